import Foundation
import Logging

/// Puts back what exited workers held, and owns the requeues still to do: those Redis could not
/// take (down) or refused (a queue key of the wrong type: the jobs stay in the processing list,
/// `queue.error` names the key once); both are retried on every poll and drain tick. It also
/// keeps the ids of the jobs the drain stopped, for `drain.done`.
struct JobRequeuer {
    let prefix: String
    let link: RedisLink
    let logger: Logger
    /// Worker ids whose processing lists still need requeueing (Redis was down when they exited).
    /// `stopped`: a worker killed by the drain, whose jobs go back untouched (attempt not counted).
    private(set) var pending: [(queue: String, id: String, stopped: Bool)] = []
    /// Processing lists whose requeue the server refused (a key of the wrong type), logged once each.
    private var refused: Set<String> = []
    /// This drain: the ids of the jobs the drain's kills stopped, requeued untouched.
    private(set) var drainRequeued: [String] = []

    /// At the end of a drain, how long requeues that failed (Redis unreachable) are retried.
    static let drainGrace: Duration = .seconds(10)

    init(prefix: String, link: RedisLink, logger: Logger) {
        self.prefix = prefix
        self.link = link
        self.logger = logger
    }

    /// Requeues what a worker that has exited held. A worker the drain SIGKILLed (`stopped`) gets
    /// its jobs back at the front of the queue untouched, the attempt not counted (the operator
    /// stopped it; the job did not fail), and their ids are kept for `drain.done`; any other
    /// exit counts the attempt that was running (`QueueScripts.recoverDead`).
    mutating func requeue(queue: String, id: String, stopped: Bool = false) {
        let q = RedisJobQueue(redis: link.connection, keys: QueueKeys(prefix: prefix, queue: queue), workerID: "orchestrator")
        do {
            let moved: Int
            if stopped {
                let ids = try link.perform { _ throws(RedisError) in try q.requeueStopped(ownerID: id) }
                drainRequeued += ids
                moved = ids.count
            } else {
                moved = try link.perform { _ throws(RedisError) in try q.requeue(ownerID: id) }
            }
            _ = try? link.perform { c throws(RedisError) in try c.send(["DEL", RedisArg(q.keys.heartbeat(id))]) }
            refused.remove(id)
            if moved > 0 {
                logger.warning("\(LogEvents.jobRecovered)", metadata: ["queue": "\(queue)", "jobs": "\(moved)", "worker.id": "\(id)",
                                                                       "attempt": "\(stopped ? "not counted (stopped by the drain)" : "counted")"])
            }
        } catch {
            if !error.isRetryable, refused.insert(id).inserted {
                logger.error("\(LogEvents.queueError)", metadata: ["key": "\(error.wrongTypeKey ?? q.keys.pending)", "error": "\(error)", "worker.id": "\(id)",
                                                                   "action": "jobs left in \(q.keys.processing(id)); requeue retried every poll"])
            }
            pending.append((queue, id, stopped))
        }
    }

    mutating func retryPending() {
        guard !pending.isEmpty else { return }
        let todo = pending
        pending.removeAll()
        for (queue, id, stopped) in todo { requeue(queue: queue, id: id, stopped: stopped) }
    }

    /// At the end of a drain: jobs of killed workers go back before we exit, so a short outage
    /// is waited out (at most `grace`); what is still pending then is logged (`requeue.pending`).
    mutating func finish(grace: Duration, clock: ContinuousClock = ContinuousClock()) {
        let giveUp = clock.now + grace
        retryPending()
        while !pending.isEmpty && clock.now < giveUp {
            link.waitForNextAttempt()
            usleep(50_000)
            retryPending()
        }
        for (queue, id, _) in pending {
            logger.error("requeue.pending", metadata: ["queue": "\(queue)", "worker.id": "\(id)",
                                                       "note": "Redis unreachable; the next worker or orchestrator recovers it once its heartbeat expires"])
        }
    }
}
