/// The fleet's history: `orchestrator:<prefix>events`, a Redis stream (XADD with an approximate
/// MAXLEN). Entries are flat strings, `type` first, `ts` (wall-clock ms) second, `host` (the
/// `--host-id` that wrote it) third, so two hosts' events can be told apart. Events are
/// buffered in memory and written with the next poll; while Redis is unreachable the buffer keeps
/// the newest `capacity` (the dropped ones are counted, and logged once per outage).
public struct EventLog: Sendable {
    public let key: String
    public let maxLength: Int
    public let capacity: Int
    public private(set) var buffer: [[(String, String)]] = []
    public private(set) var dropped = 0

    public let host: String

    /// The fields every event starts with (then its own).
    public enum Field: String, Sendable { case type, ts, host }

    /// Every event type written to the stream (by the orchestrator, `pause`/`resume`/`dead`, the
    /// dashboard's actions): what `events --type` and `/api/events?type=` accept.
    public static let knownTypes = [
        "scale", "worker_spawned", "worker_exited", "drain_begin", "drain_done", "redis_down", "redis_up", "pause", "resume",
        "dead_requeue", "dead_delete", "retry_now", "alert_fired", "alert_repeated", "alert_resolved", "host_joined", "host_gone", "fenced",
    ]

    /// The types in `types` that no event has, e.g. a typo (`events --type worker_exit`).
    public static func unknownTypes(_ types: [String]) -> [String] { types.filter { !knownTypes.contains($0) } }

    public init(prefix: String, maxLength: Int, host: String, capacity: Int = 10_000) {
        key = QueueKeys.events(prefix: prefix)
        self.host = host
        self.maxLength = maxLength
        self.capacity = capacity
    }

    public mutating func record(_ type: String, _ fields: [(String, String)], milliseconds: Int64 = WallClock.nowMilliseconds()) {
        buffer.append([(Field.type.rawValue, type), (Field.ts.rawValue, "\(milliseconds)"), (Field.host.rawValue, host)] + fields)
        if buffer.count > capacity {
            buffer.removeFirst(buffer.count - capacity)
            dropped += 1
        }
    }

    /// The XADD commands for what is buffered (then `flushed()` once they succeeded).
    public var commands: [[RedisArg]] {
        buffer.map { fields in
            var c: [RedisArg] = ["XADD", RedisArg(key), "MAXLEN", "~", RedisArg(maxLength), "*"]
            for (k, v) in fields { c += [RedisArg(k), RedisArg(v)] }
            return c
        }
    }

    public mutating func flushed(_ count: Int) {
        buffer.removeFirst(min(count, buffer.count))
        if buffer.isEmpty { dropped = 0 }
    }
}

/// Reads the events stream (`orchestrator events`).
public enum EventReader {
    public struct Event: Sendable, Equatable {
        public var id: String
        public var fields: [(String, String)]
        public static func == (a: Event, b: Event) -> Bool { a.id == b.id && a.fields.map { "\($0.0)=\($0.1)" } == b.fields.map { "\($0.0)=\($0.1)" } }
        public var type: String { fields.first { $0.0 == EventLog.Field.type.rawValue }?.1 ?? "" }
    }

    /// Entries since `milliseconds` (stream ids start with the ms time), oldest first, at most `count`.
    public static func range(_ redis: RedisConnection, key: String, sinceMilliseconds: Int64, count: Int = 10_000) throws(RedisError) -> [Event] {
        parse(try redis.send(["XRANGE", RedisArg(key), RedisArg("\(sinceMilliseconds)"), "+", "COUNT", RedisArg(count)]))
    }

    /// The newest entries since `milliseconds`, newest first, at most `count`.
    public static func latest(_ redis: RedisConnection, key: String, sinceMilliseconds: Int64, count: Int) throws(RedisError) -> [Event] {
        parse(try redis.send(["XREVRANGE", RedisArg(key), "+", RedisArg("\(sinceMilliseconds)"), "COUNT", RedisArg(count)]))
    }

    /// Entries after `id`, waiting up to `block` for new ones (`--follow`).
    public static func after(_ redis: RedisConnection, key: String, id: String, block: Duration) throws(RedisError) -> [Event] {
        let reply = try redis.send(["XREAD", "BLOCK", RedisArg(String(block.milliseconds)), "STREAMS", RedisArg(key), RedisArg(id)])
        guard let streams = reply.array, let first = streams.first?.array, first.count == 2 else { return [] }
        return parse(first[1])
    }

    static func parse(_ reply: RedisReply) -> [Event] {
        (reply.array ?? []).compactMap { entry in
            guard let parts = entry.array, parts.count == 2, let id = parts[0].text, let flat = parts[1].array else { return nil }
            var fields: [(String, String)] = []
            var i = 0
            while i + 1 < flat.count {
                fields.append((flat[i].text ?? "", flat[i + 1].text ?? ""))
                i += 2
            }
            return Event(id: id, fields: fields)
        }
    }
}
