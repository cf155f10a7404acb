import Foundation
import Logging

/// Writes a job's outcome (result, retry, dead letter) for the worker loop, and keeps the job
/// safe when the server refuses the write.
///
/// The queue scripts check the keys they write before their first write, so a refusal (a
/// results, dead, retry or queue key of the wrong type) leaves the job in the worker's
/// processing list. The worker then keeps it there: `queue.error` names the key once, the write
/// is retried (1 s, doubling to 10 s) with the heartbeat kept alive, and no new job is taken
/// meanwhile; `queue.writable` says when it went through. If the worker must stop first, the job
/// goes back to the front of the queue untouched, or, when even that is refused, stays in the
/// processing list for the orchestrator (or another worker's recovery) to requeue once this
/// worker has exited. Keys that hold no job (the stats hash) are skipped and reported once.
final class OutcomeWriter {
    private let link: RedisLink
    private let queue: RedisJobQueue
    private let logger: Logger
    /// Keys holding no job that were refused (stats, heartbeat, paused set): logged once each.
    var faults = KeyFaults()
    /// What happened to the last job whose outcome could not be written (for its log line).
    private(set) var unwritten = ""
    static let firstRetry: Duration = .seconds(1)
    static let maxRetry: Duration = .seconds(10)

    init(link: RedisLink, queue: RedisJobQueue, logger: Logger) {
        self.link = link
        self.queue = queue
        self.logger = logger
    }

    /// Runs `body` (a queue script writing `jobID`'s outcome) until it succeeds: through outages
    /// as `RedisLink.performRetrying`, and through refusals as described above, calling
    /// `keepAlive` while it waits. Nil when `mustStop` said stop before it succeeded: the job was
    /// put back or left held, as `unwritten` says.
    func write<T>(jobID: String, keepAlive: () -> Void, mustStop: () -> Bool, _ body: () throws(RedisError) -> T) -> T? {
        var refused: String?
        var wait = Self.firstRetry
        while true {
            switch link.performRetrying({ _ throws(RedisError) in try body() }) {
            case .success(let value)?:
                if let refused { logger.info("\(LogEvents.queueWritable)", metadata: ["key": "\(refused)", "job.id": "\(jobID)"]) }
                return value
            case .failure(let error)?:
                let key = error.wrongTypeKey ?? "(not named by the server)"
                if refused != key {
                    logger.error("\(LogEvents.queueError)", metadata: [
                        "key": "\(key)", "error": "\(error)", "job.id": "\(jobID)",
                        "action": "job kept in \(queue.processingKey); no new job is taken; retrying until the key is fixed or the worker stops"])
                }
                refused = key
                if mustStop() { giveBack(jobID: jobID, error: error); return nil }
                let until = ContinuousClock.now + wait
                while ContinuousClock.now < until && !mustStop() {
                    keepAlive()
                    usleep(100_000)
                }
                wait = min(wait * 2, Self.maxRetry)
            case nil:
                return nil
            }
        }
    }

    /// The worker stops with an outcome it could not write: the job goes back to the front of the
    /// queue untouched (its result is lost, so it runs again), or stays in the processing list.
    private func giveBack(jobID: String, error: RedisError) {
        if case .success? = link.performRetrying({ _ throws(RedisError) in try queue.pushBack() }) {
            unwritten = "not recorded (\(error)): job pushed back to the front of \(queue.keys.pending) untouched"
        } else {
            unwritten = "not recorded (\(error)): job left in \(queue.processingKey), requeued once this worker has exited"
        }
        logger.error("\(LogEvents.queueError)", metadata: ["job.id": "\(jobID)", "action": "worker stopping: \(unwritten)"])
    }

    /// Reports the keys a completed write skipped (their type is wrong) and clears the others of `checked`.
    func report(skipped: [KeyFault], checked: [String]) {
        for fault in skipped {
            faults.failed(fault.key, error: fault.error, skipped: "not updated; the job's outcome was written", logger: logger)
        }
        for key in checked where !skipped.contains(where: { $0.key == key }) { faults.succeeded(key, logger: logger) }
    }

    /// Puts a job popped but not started (a drain, a prefetched job) back at the front of the
    /// queue; when the server refuses, it stays in the processing list and the log says so.
    func putBack() {
        if case .failure(let error)? = link.performRetrying({ _ throws(RedisError) in try queue.pushBack() }) {
            logger.error("\(LogEvents.queueError)", metadata: ["key": "\(error.wrongTypeKey ?? queue.keys.pending)", "error": "\(error)",
                                                               "action": "job left in \(queue.processingKey), requeued once this worker has exited"])
        }
    }
}
