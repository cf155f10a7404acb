import Foundation
import Logging

extension Supervisor {
    /// Requeues what a worker that has exited held. A worker the drain SIGKILLed (`stopped`) gets
    /// its jobs back at the front of the queue untouched, the attempt not counted (the operator
    /// stopped it; the job did not fail), and their ids are kept for `drain.done`; any other
    /// exit counts the attempt that was running (`QueueScripts.recoverDead`). When Redis cannot
    /// be reached, or refuses (a queue key of the wrong type: the jobs stay in the processing
    /// list, `queue.error` names the key once), it is retried on every poll and drain tick.
    func requeue(queue: String, id: String, stopped: Bool = false) {
        let q = RedisJobQueue(redis: link.connection, keys: QueueKeys(prefix: settings.job.prefix, queue: queue), workerID: "orchestrator")
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
            refusedRequeues.remove(id)
            if moved > 0 {
                logger.warning("\(LogEvents.jobRecovered)", metadata: ["queue": "\(queue)", "jobs": "\(moved)", "worker.id": "\(id)",
                                                                       "attempt": "\(stopped ? "not counted (stopped by the drain)" : "counted")"])
            }
        } catch {
            if !error.isRetryable, refusedRequeues.insert(id).inserted {
                logger.error("\(LogEvents.queueError)", metadata: ["key": "\(error.wrongTypeKey ?? q.keys.pending)", "error": "\(error)", "worker.id": "\(id)",
                                                                   "action": "jobs left in \(q.keys.processing(id)); requeue retried every poll"])
            }
            pendingRequeues.append((queue, id, stopped))
        }
    }

    func retryPendingRequeues() {
        guard !pendingRequeues.isEmpty else { return }
        let todo = pendingRequeues
        pendingRequeues.removeAll()
        for (queue, id, stopped) in todo { requeue(queue: queue, id: id, stopped: stopped) }
    }
}
