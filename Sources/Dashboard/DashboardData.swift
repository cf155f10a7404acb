import Foundation
import OrchestratorCore
import Synchronization

/// Everything the dashboard reads or changes in Redis, on one connection owned by a serial queue
/// of its own: blocking hiredis calls never run on the server's event loop or the Swift
/// concurrency pool, and never touch the control loop's connection. The connection and its
/// failure state are behind a `Mutex` taken only on that queue (never contended: it makes the
/// compiler check what the queue already serialises); the cached status has its own.
final class DashboardData: Sendable {
    private let queue = DispatchQueue(label: "dashboard.redis")
    private let endpoint: RedisEndpoint
    let prefix: String
    /// The queues to show: the orchestrator's own (`run`), or those asked for (`dashboard --queue`);
    /// nil: whatever the running orchestrator watches.
    let queues: [String]?
    private struct Link {
        var connection: RedisConnection?
        var failedAt: ContinuousClock.Instant?
        var lastError = ""
    }
    private let link = Mutex(Link())
    private let cache = Mutex<(at: ContinuousClock.Instant, json: String)?>(nil)
    var cachedStatus: (at: ContinuousClock.Instant, json: String)? {
        get { cache.withLock { $0 } }
        set { cache.withLock { $0 = newValue } }
    }
    private let clock = ContinuousClock()

    /// The `host` of the events an action writes.
    let hostID: String

    init(endpoint: RedisEndpoint, prefix: String, queues: [String]?, hostID: String) {
        self.hostID = hostID
        self.endpoint = endpoint
        self.prefix = prefix
        self.queues = queues
    }

    struct Unavailable: Error, CustomStringConvertible { var description: String }

    /// Runs `body` on the Redis queue with a live connection. After a failure, calls within the
    /// next second fail at once (a dashboard polled by many clients does not hammer a dead server).
    func perform<T: Sendable>(_ body: @escaping @Sendable (RedisConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            queue.async {
                continuation.resume(with: Result { try self.link.withLock { try self.onQueue(&$0, body) } })
            }
        }
    }

    private func onQueue<T>(_ link: inout Link, _ body: (RedisConnection) throws -> T) throws -> T {
        if let failedAt = link.failedAt, clock.now - failedAt < .seconds(1) { throw Unavailable(description: link.lastError) }
        do {
            let connection: RedisConnection
            if let open = link.connection {
                connection = open
            } else {
                connection = RedisConnection(endpoint: endpoint, connectTimeout: .seconds(1), commandTimeout: .seconds(3))
                try connection.connect()
                link.connection = connection
            }
            let result = try body(connection)
            link.failedAt = nil
            return result
        } catch let error as RedisError {
            link.connection?.close()
            link.connection = nil
            switch error {
            case .connection, .authentication:
                link.failedAt = clock.now
                link.lastError = "\(error)"
                throw Unavailable(description: link.lastError)
            default:
                throw error
            }
        }
    }

    /// `status --json`, at most half a second old (one Redis read serves every client polling).
    func statusJSON() async throws -> String {
        let prefix = self.prefix, queues = self.queues
        return try await perform { redis in
            if let cached = self.cachedStatus, self.clock.now - cached.at < .milliseconds(500) { return cached.json }
            let json = try StatusReport.collect(redis: redis, prefix: prefix, requested: queues, fallback: queues ?? []).json
            self.cachedStatus = (self.clock.now, json)
            return json
        }
    }

    /// The queues that may be changed: those shown.
    func knownQueues() async throws -> [String] {
        if let queues { return queues }
        let prefix = self.prefix
        return try await perform { redis in QueueControl.watched(redis: redis, prefix: prefix) ?? [] }
    }

    /// True when `queue` has minute samples in Redis (a queue no longer watched, still worth a chart).
    func hasHistory(queue: String) async throws -> Bool {
        let key = QueueKeys.history(prefix: prefix, queue: queue)
        return try await perform { redis in (try redis.send(["EXISTS", RedisArg(key)]).int ?? 0) > 0 }
    }

    /// The minute samples of `queue` since `since` (ms), as `history --json` objects; with
    /// `points`, buckets of consecutive samples merged (max of pending, workers and target, sum of
    /// done, failed and dead), so a week fits a chart.
    func history(queue: String, since: Int64, points: Int?) async throws -> [FieldsAnswer] {
        let key = QueueKeys.history(prefix: prefix, queue: queue)
        let samples = try await perform { redis in try EventReader.range(redis, key: key, sinceMilliseconds: since, count: 20_000) }
        guard let points, points > 0, samples.count > points else {
            return samples.map { FieldsAnswer([("queue", queue)] + $0.fields) }
        }
        let rows = samples.map { Dictionary($0.fields, uniquingKeysWith: { $1 }) }
        let size = (rows.count + points - 1) / points
        return stride(from: 0, to: rows.count, by: size).map { start in
            let bucket = rows[start..<min(start + size, rows.count)]
            let values = { (k: String) in bucket.map { Int($0[k] ?? "") ?? 0 } }
            typealias Field = QueueHistory.Field
            let minute = Field.minute.rawValue
            var fields = [("queue", queue), (minute, bucket.first?[minute] ?? "")]
            for f in [Field.pending, .target, .busy, .idle, .draining] { fields.append((f.rawValue, "\(values(f.rawValue).max() ?? 0)")) }
            for f in [Field.done, .failed, .dead] { fields.append((f.rawValue, "\(values(f.rawValue).reduce(0, +))")) }
            return FieldsAnswer(fields + [("minutes", "\(bucket.count)")])
        }
    }

    /// The newest events since `since` (ms), newest first, optionally of some types only.
    func events(since: Int64, types: Set<String>, limit: Int) async throws -> [FieldsAnswer] {
        let key = QueueKeys.events(prefix: prefix)
        let events = try await perform { redis in try EventReader.latest(redis, key: key, sinceMilliseconds: since, count: types.isEmpty ? limit : 5_000) }
        return events.filter { types.isEmpty || types.contains($0.type) }.prefix(limit).map { FieldsAnswer([("id", $0.id)] + $0.fields) }
    }

    /// `alerts --json`: each active alert's record as stored, by rule and queue.
    func alerts() async throws -> [RawJSON] {
        let key = QueueKeys.alerts(prefix: prefix)
        let fields = try await perform { redis in try redis.send(["HGETALL", RedisArg(key)]).fields }
        return fields.sorted { $0.key < $1.key }.map { RawJSON($0.value) }
    }

    enum Action: String, Sendable { case pause, resume, requeueDead = "requeue-dead" }

    /// Performs an action on a queue; `client` goes into its event.
    func perform(_ action: Action, queue: String, client: String) async throws -> QueueActionAnswer {
        let prefix = self.prefix, host = self.hostID
        return try await perform { redis in
            self.cachedStatus = nil
            var answer = QueueActionAnswer(queue: queue, action: action.rawValue)
            switch action {
            case .pause: try QueueControl.setPaused(true, queues: [queue], redis: redis, prefix: prefix, host: host, client: client)
            case .resume: try QueueControl.setPaused(false, queues: [queue], redis: redis, prefix: prefix, host: host, client: client)
            case .requeueDead:
                answer.requeued = try QueueControl.perform(.requeue, queue: queue, id: nil, redis: redis, prefix: prefix, host: host, client: client)
            }
            return answer
        }
    }
}
