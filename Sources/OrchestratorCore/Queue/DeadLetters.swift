import Foundation

/// The dead-letter lists, for operators: inspect them, and move jobs back to their queue once
/// the cause is fixed (Sidekiq's "retry all dead").
public struct DeadLetters {
    /// A dead letter as read, with its raw bytes (to remove exactly that entry).
    public struct Entry {
        public var letter: DeadLetter
        public var raw: [UInt8]
        public var payload: [UInt8] { letter.payload }
        public var error: String { letter.error }
        public var attempts: Int { letter.attempts }
        public var failedAt: String { letter.failedAt }
    }

    public let redis: RedisConnection
    public let keys: QueueKeys

    public init(redis: RedisConnection, keys: QueueKeys) {
        self.redis = redis
        self.keys = keys
    }

    public func count() throws(RedisError) -> Int { try redis.send(["LLEN", RedisArg(keys.dead)]).int ?? 0 }

    /// The newest `limit` entries.
    public func list(limit: Int) throws(RedisError) -> [Entry] {
        let items = try redis.send(["LRANGE", RedisArg(keys.dead), "0", RedisArg(max(0, limit - 1))]).array ?? []
        return items.compactMap(\.bytes).map(Self.decode)
    }

    /// An entry that is not a dead letter (written by hand?) still shows, with its bytes as the payload.
    static func decode(_ raw: [UInt8]) -> Entry {
        let letter = (try? JSONDecoder().decode(DeadLetter.self, from: Data(raw)))
            ?? DeadLetter(queue: "", payload: raw, error: "not a dead-letter record", attempts: 0, worker: "", failedAt: "")
        return Entry(letter: letter, raw: raw)
    }

    /// Moves every dead job back to the front of its queue with a fresh attempt count, oldest
    /// first, each in one MULTI/EXEC (push the bare payload, remove the entry), so a crash midway
    /// loses nothing. The bare payload carries no envelope, so its attempts start again at 1.
    /// Returns how many moved.
    @discardableResult
    public func requeueAll() throws(RedisError) -> Int {
        var moved = 0
        while let raw = try redis.send(["LINDEX", RedisArg(keys.dead), "-1"]).bytes {
            let entry = Self.decode(raw)
            let replies = try redis.pipeline([
                ["MULTI"],
                ["RPUSH", RedisArg(keys.pending), RedisArg(bytes: entry.payload)],
                ["LREM", RedisArg(keys.dead), "-1", RedisArg(bytes: raw)],
                ["EXEC"],
            ])
            guard case .array = replies.last else { throw .unexpectedReply("EXEC: \(replies.last.map { "\($0)" } ?? "none")") }
            moved += 1
        }
        return moved
    }
}
