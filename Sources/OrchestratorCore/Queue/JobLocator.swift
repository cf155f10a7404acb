import Foundation

/// Where a job is now, found by its id (`orchestrator job ID`, `GET /api/jobs/ID`).
public struct JobLocation: Sendable, Equatable {
    public enum State: String, Sendable { case pending, inFlight = "in_flight", retry, dead, done }
    public var id: String
    public var queue: String
    public var state: State
    /// The worker holding it (`in_flight`).
    public var worker: String?
    /// When it moves back to the queue, ISO 8601 UTC (`retry`).
    public var dueAt: String?
    /// The last error and the attempts made (`dead`).
    public var error: String?
    public var attempts: Int?
    /// The result record, as stored (`done`).
    public var result: [UInt8]?

    public init(id: String, queue: String, state: State, worker: String? = nil, dueAt: String? = nil, error: String? = nil,
                attempts: Int? = nil, result: [UInt8]? = nil) {
        self.id = id; self.queue = queue; self.state = state; self.worker = worker; self.dueAt = dueAt
        self.error = error; self.attempts = attempts; self.result = result
    }

    /// `{"id","queue","state"[,"worker"|"due_at"|"error","attempts"|"result"]}`.
    public var json: String {
        var w = JSONObjectWriter()
        w.string("id", id)
        w.string("queue", queue)
        w.string("state", state.rawValue)
        if let worker { w.string("worker", worker) }
        if let dueAt { w.string("due_at", dueAt) }
        if let error { w.string("error", error) }
        if let attempts { w.number("attempts", attempts) }
        if let result { w.raw("result", String(decoding: result, as: UTF8.self)) }
        return w.text
    }
}

/// Finds a job by its id (the per-instance id a `Client` gave it, or the SHA-1 of a plain
/// payload) in each queue, looking where a job can be, in this order: held by a worker
/// (`fila:q:processing:*`, found with `SCAN … MATCH` on that prefix), the retry set, the dead
/// list, the pending list, then done (the result by id, then the results list). The scan is
/// bounded: at most `limit` elements of each list or set are read (newest first, 1,000 a
/// round trip) and at most `limit` keys examined by SCAN per queue, so a lookup costs a bounded
/// number of round trips whatever the backlog; a job deeper than that is reported not found.
public struct JobLocator {
    public let redis: RedisConnection
    public let prefix: String
    public let limit: Int

    public static let defaultLimit = 10_000

    public init(redis: RedisConnection, prefix: String, limit: Int = JobLocator.defaultLimit) {
        self.redis = redis
        self.prefix = prefix
        self.limit = max(1, limit)
    }

    /// The job's location in the first of `queues` that has it, or nil.
    public func locate(id: String, queues: [String]) throws(RedisError) -> JobLocation? {
        for queue in queues {
            if let found = try locate(id: id, keys: QueueKeys(prefix: prefix, queue: queue)) { return found }
        }
        return nil
    }

    func locate(id: String, keys: QueueKeys) throws(RedisError) -> JobLocation? {
        let q = keys.queue
        for list in try processingLists(keys) {
            if try scanList(list, matching: id) != nil {
                return JobLocation(id: id, queue: q, state: .inFlight, worker: String(list.dropFirst(keys.processingPrefix.count)))
            }
        }
        if let due = try retryDue(keys, id: id) {
            return JobLocation(id: id, queue: q, state: .retry, dueAt: WallClock.iso8601(milliseconds: due))
        }
        if let dead = try DeadLetters(redis: redis, keys: keys).list(limit: limit).first(where: { $0.id == id }) {
            return JobLocation(id: id, queue: q, state: .dead, error: dead.error, attempts: dead.attempts)
        }
        if try scanList(keys.pending, matching: id) != nil { return JobLocation(id: id, queue: q, state: .pending) }
        if let record = try result(keys, id: id) { return JobLocation(id: id, queue: q, state: .done, result: record) }
        return nil
    }

    /// The job id a queue element carries.
    public static func id(ofElement element: [UInt8]) -> String {
        let envelope = JobEnvelope.decode(element)
        return envelope.instanceID ?? SHA1.hex(envelope.payload)
    }

    /// The processing lists of a queue: SCAN with MATCH on the queue's processing prefix, at most
    /// `limit` keys examined.
    func processingLists(_ keys: QueueKeys) throws(RedisError) -> [String] {
        var cursor = "0", examined = 0
        var found: [String] = []
        repeat {
            let reply = try redis.send(["SCAN", RedisArg(cursor), "MATCH", RedisArg(keys.processingPattern), "COUNT", "500"])
            guard let parts = reply.array, parts.count == 2, let next = parts[0].text else { throw .unexpectedReply("SCAN: \(reply)") }
            cursor = next
            examined += 500
            found += (parts[1].array ?? []).compactMap(\.text)
        } while cursor != "0" && examined < limit
        return found
    }

    /// Reads `key` (a list) from its head in pages; returns the first element whose job id is `id`.
    func scanList(_ key: String, matching id: String, decode: ([UInt8]) -> String? = JobLocator.id(ofElement:)) throws(RedisError) -> [UInt8]? {
        var start = 0
        while start < limit {
            let stop = min(start + 1000, limit) - 1
            let items = try redis.send(["LRANGE", RedisArg(key), RedisArg(start), RedisArg(stop)]).array ?? []
            if let hit = items.compactMap(\.bytes).first(where: { decode($0) == id }) { return hit }
            if items.count < stop - start + 1 { return nil }
            start = stop + 1
        }
        return nil
    }

    /// The due time (ms) of the job in the retry set (members `<tag>\n<element>`).
    func retryDue(_ keys: QueueKeys, id: String) throws(RedisError) -> Int64? {
        let items = try redis.send(["ZRANGE", RedisArg(keys.retry), "0", RedisArg(limit - 1), "WITHSCORES"]).array ?? []
        var i = 0
        while i + 1 < items.count {
            if let member = items[i].bytes, let cut = member.firstIndex(of: UInt8(ascii: "\n")),
               Self.id(ofElement: Array(member[(cut + 1)...])) == id {
                return items[i + 1].text.flatMap(Double.init).map { Int64($0) }
            }
            i += 2
        }
        return nil
    }

    /// The result record: by id (jobs with an instance id), else the newest match in the results list.
    func result(_ keys: QueueKeys, id: String) throws(RedisError) -> [UInt8]? {
        if JobEnvelope.isValidInstanceID(Array(id.utf8)),
           let stored = try? redis.send(["GET", RedisArg(QueueKeys.resultByID(prefix: prefix, id))]).bytes,
           (try? JSONDecoder().decode(ResultRecord.self, from: Data(stored))) != nil {
            return stored
        }
        return try scanList(keys.results, matching: id) { raw in
            guard let record = try? JSONDecoder().decode(ResultRecord.self, from: Data(raw)) else { return nil }
            return record.jobID.isEmpty ? SHA1.hex(record.payload) : record.jobID
        }
    }
}
