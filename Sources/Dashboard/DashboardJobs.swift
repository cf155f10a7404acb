import Foundation
import OrchestratorCore

/// The on-call endpoints: dead letters, where a job is, and the actions on them.
extension DashboardData {
    /// The dead letters of `queue`, newest first, `limit` after skipping `offset`.
    func dead(queue: String, limit: Int, offset: Int) async throws -> DeadListAnswer {
        let keys = QueueKeys(prefix: prefix, queue: queue)
        return try await perform { redis in
            let dead = DeadLetters(redis: redis, keys: keys)
            return DeadListAnswer(queue: queue, total: try dead.count(), items: try dead.list(limit: limit, offset: offset).map(DeadItem.init))
        }
    }

    /// Where job `id` is, in the queues shown (`JobLocator`), or nil.
    func job(id: String) async throws -> JobAnswer? {
        let queues = try await knownQueues(), prefix = self.prefix
        return try await perform { redis in try JobLocator(redis: redis, prefix: prefix).locate(id: id, queues: queues).map(JobAnswer.init) }
    }

    /// Requeues or deletes dead letters (`id` nil: all of the queue), or promotes every waiting
    /// retry; nil when `id` names no dead letter of the queue.
    func perform(_ action: QueueControl.JobAction, queue: String, id: String?, client: String) async throws -> JobActionAnswer? {
        let prefix = self.prefix, host = self.hostID
        let count = try await perform { redis in
            self.cachedStatus = nil
            return try QueueControl.perform(action, queue: queue, id: id, redis: redis, prefix: prefix, host: host, client: client)
        }
        return count.map { JobActionAnswer(queue: queue, action: action, id: id, count: $0) }
    }
}
