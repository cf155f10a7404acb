import Foundation

/// The dead-letter lists, for operators: inspect them, and move jobs back to their queue once
/// the cause is fixed (Sidekiq's "retry all dead").
public struct DeadLetters {
    public struct Entry {
        public var payload: [UInt8]
        public var error: String
        public var attempts: Int
        public var failedAt: String
        public var raw: [UInt8]
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

    static func decode(_ raw: [UInt8]) -> Entry {
        let object = (try? JSONSerialization.jsonObject(with: Data(raw)) as? [String: Any]) ?? [:]
        var payload = Array(((object["payload"] as? String) ?? "").utf8)
        if object["payload_encoding"] as? String == "base64", let text = object["payload"] as? String, let data = Data(base64Encoded: text) {
            payload = Array(data)
        }
        return Entry(payload: payload, error: object["error"] as? String ?? "", attempts: object["attempts"] as? Int ?? 0,
                     failedAt: object["failed_at"] as? String ?? "", raw: raw)
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
