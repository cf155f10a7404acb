import Foundation
import OrchestratorCore

/// The on-call endpoints: dead letters, where a job is, and the actions on them.
extension DashboardData {
    /// `{"queue","total","items":[{"id","payload"|"payload_base64","error","attempts","failed_at","worker"}…]}`, newest first.
    func deadJSON(queue: String, limit: Int, offset: Int) async throws -> String {
        let keys = QueueKeys(prefix: prefix, queue: queue)
        let (total, entries) = try await perform { redis in
            let dead = DeadLetters(redis: redis, keys: keys)
            return (try dead.count(), try dead.list(limit: limit, offset: offset))
        }
        var w = JSONObjectWriter()
        w.string("queue", queue)
        w.number("total", total)
        w.raw("items", "[" + entries.map(Self.deadItem).joined(separator: ",") + "]")
        return w.text
    }

    static func deadItem(_ e: DeadLetters.Entry) -> String {
        var w = JSONObjectWriter()
        w.string("id", e.id)
        if let text = String(validating: e.payload, as: UTF8.self) {
            w.string("payload", text)
        } else {
            w.string("payload_base64", Data(e.payload).base64EncodedString())
        }
        w.string("error", e.error)
        w.number("attempts", e.attempts)
        w.string("failed_at", e.failedAt)
        w.string("worker", e.letter.worker)
        return w.text
    }

    /// Where job `id` is, in the queues shown (`JobLocator`), or nil.
    func jobJSON(id: String) async throws -> String? {
        let queues = try await knownQueues(), prefix = self.prefix
        return try await perform { redis in try JobLocator(redis: redis, prefix: prefix).locate(id: id, queues: queues)?.json }
    }

    /// Requeues or deletes dead letters (`id` nil: all of the queue), or promotes every waiting
    /// retry; nil when `id` names no dead letter of the queue.
    func perform(_ action: QueueControl.JobAction, queue: String, id: String?, client: String) async throws -> String? {
        let prefix = self.prefix, host = self.hostID
        let count = try await perform { redis in
            self.cachedStatus = nil
            return try QueueControl.perform(action, queue: queue, id: id, redis: redis, prefix: prefix, host: host, client: client)
        }
        guard let count else { return nil }
        var w = JSONObjectWriter()
        w.string("queue", queue)
        w.string("action", action.rawValue)
        if let id { w.string("id", id) }
        w.number(action == .delete ? "deleted" : action == .requeue ? "requeued" : "promoted", count)
        return w.text
    }
}
