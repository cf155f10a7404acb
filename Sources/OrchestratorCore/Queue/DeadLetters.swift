import Foundation

/// The dead-letter lists, for operators: inspect them, and move jobs back to their queue once
/// the cause is fixed (Sidekiq's "retry all dead").
public struct DeadLetters {
    /// A dead letter as read, with its raw bytes (to remove exactly that entry).
    public struct Entry: Sendable {
        public var letter: DeadLetter
        public var raw: [UInt8]
        /// The job id, as in results and logs: the instance id of a job a `Client` enqueued, else
        /// the SHA-1 of the payload.
        public var id: String { letter.jobID.isEmpty ? SHA1.hex(letter.payload) : letter.jobID }
        /// What a requeue pushes: the bare payload, or for a job with an instance id a fresh
        /// envelope keeping that id (so its result is still found by it).
        public var requeueElement: [UInt8] {
            let instance = letter.jobID != SHA1.hex(letter.payload) && JobEnvelope.isValidInstanceID(Array(letter.jobID.utf8))
            return JobEnvelope(instanceID: instance ? letter.jobID : nil, payload: letter.payload).encoded()
        }
        public var payload: [UInt8] { letter.payload }
        public var error: String { letter.error }
        public var attempts: Int { letter.attempts }
        public var failedAt: String { letter.failedAt }
    }

    public let redis: any RedisClient
    public let keys: QueueKeys

    public init(redis: any RedisClient, keys: QueueKeys) {
        self.redis = redis
        self.keys = keys
    }

    public func count() throws(RedisError) -> Int { try redis.send(["LLEN", RedisArg(keys.dead)]).int ?? 0 }

    /// The newest `limit` entries, after skipping the `offset` newest.
    public func list(limit: Int, offset: Int = 0) throws(RedisError) -> [Entry] {
        guard limit > 0 else { return [] }
        let start = max(0, offset)
        let stop = limit == Int.max ? -1 : start + limit - 1
        let items = try redis.send(["LRANGE", RedisArg(keys.dead), RedisArg(start), RedisArg(stop)]).array ?? []
        return items.compactMap(\.bytes).map(Self.decode)
    }

    /// Entries whose job id is exactly `id` (identical plain payloads share one).
    public func entries(id: String) throws(RedisError) -> [Entry] {
        try all().filter { $0.id == id }
    }

    /// An entry that is not a dead letter (written by hand?) still shows, with its bytes as the payload.
    static func decode(_ raw: [UInt8]) -> Entry {
        let letter = (try? JSONDecoder().decode(DeadLetter.self, from: Data(raw)))
            ?? DeadLetter(queue: "", payload: raw, error: "not a dead-letter record", attempts: 0, worker: "", failedAt: "")
        return Entry(letter: letter, raw: raw)
    }

    /// Every entry, newest first.
    public func all() throws(RedisError) -> [Entry] { try list(limit: Int.max) }

    /// Entries whose job id starts with one of `ids` (at least 8 characters each). Identical
    /// plain payloads share an id, so one id may match several entries.
    public func matching(ids: [String]) throws(RedisError) -> [Entry] {
        let wanted = ids.map { $0.lowercased() }
        return try all().filter { e in wanted.contains { e.id.hasPrefix($0) } }
    }

    /// Moves every dead job back to the front of its queue with a fresh attempt count, oldest
    /// first. Returns how many moved.
    @discardableResult
    public func requeueAll() throws(RedisError) -> Int {
        var moved = 0
        while let raw = try redis.send(["LINDEX", RedisArg(keys.dead), "-1"]).bytes {
            if try requeue(Self.decode(raw)) { moved += 1 }
        }
        return moved
    }

    /// Moves one dead job back to the front of its queue in one Lua script (remove the entry; only
    /// if it was there, push the bare payload), so a crash midway loses nothing and a concurrent
    /// requeue cannot double it; the bare payload starts again at attempt 1. False when the entry
    /// was no longer there.
    @discardableResult
    public func requeue(_ entry: Entry) throws(RedisError) -> Bool {
        try redis.eval(QueueScripts.requeueDead, keys: [keys.dead, keys.pending],
                       args: [RedisArg(bytes: entry.raw), RedisArg(bytes: entry.requeueElement)]).int == 1
    }

    /// Deletes one dead entry (one LREM). False when it was no longer there.
    @discardableResult
    public func delete(_ entry: Entry) throws(RedisError) -> Bool {
        (try redis.send(["LREM", RedisArg(keys.dead), "-1", RedisArg(bytes: entry.raw)]).int ?? 0) > 0
    }

    /// Deletes the whole dead list at once (MULTI: count, delete). Returns how many were deleted.
    @discardableResult
    public func purge() throws(RedisError) -> Int {
        let replies = try redis.pipeline([["MULTI"], ["LLEN", RedisArg(keys.dead)], ["DEL", RedisArg(keys.dead)], ["EXEC"]])
        guard case .array(let results) = replies.last, let n = results.first?.int else {
            throw .unexpectedReply("EXEC: \(replies.last.map { "\($0)" } ?? "none")")
        }
        return n
    }
}
