/// What an operator changes in a queue, from the CLI or the dashboard: pause, resume, requeue its
/// dead letters. Each writes its event to the stream, as the orchestrator's own events.
public enum QueueControl {
    /// Adds (or removes) the queues to the paused set; workers finish their job and stop.
    public static func setPaused(_ paused: Bool, queues: [String], redis: RedisConnection, prefix: String,
                                 host: String = WallClock.hostName()) throws(RedisError) {
        guard !queues.isEmpty else { return }
        _ = try redis.send([paused ? "SADD" : "SREM", RedisArg(QueueKeys.paused(prefix: prefix))] + queues.map { RedisArg($0) })
        _ = try? redis.pipeline(queues.map { q in event(paused ? "pause" : "resume", prefix: prefix, host: host, [("queue", q)]) })
    }

    /// Moves every dead letter of `queue` back to its front with a fresh attempt count; returns how many.
    public static func requeueDead(queue: String, redis: RedisConnection, prefix: String, host: String = WallClock.hostName()) throws(RedisError) -> Int {
        let moved = try DeadLetters(redis: redis, keys: QueueKeys(prefix: prefix, queue: queue)).requeueAll()
        _ = try? redis.send(event("dead_requeue", prefix: prefix, host: host, [("queue", queue), ("jobs", "\(moved)")]))
        return moved
    }

    /// The paused queues.
    public static func paused(redis: RedisConnection, prefix: String) throws(RedisError) -> Set<String> {
        Set((try redis.send(["SMEMBERS", RedisArg(QueueKeys.paused(prefix: prefix))]).array ?? []).compactMap(\.text))
    }

    /// The queues the running orchestrator watches (nil when none runs).
    public static func watched(redis: RedisConnection, prefix: String) -> [String]? {
        guard let text = (try? redis.send(["HGET", RedisArg(QueueKeys.instance(prefix: prefix)), "queues"]))?.text else { return nil }
        return text.split(separator: ",").map(String.init)
    }

    /// An event as the orchestrator writes them: `type`, `ts`, `host` (where the change was made), then the fields.
    static func event(_ type: String, prefix: String, host: String, _ fields: [(String, String)]) -> [RedisArg] {
        var command: [RedisArg] = ["XADD", RedisArg(QueueKeys.events(prefix: prefix)), "MAXLEN", "~", "100000", "*", "type", RedisArg(type),
                                   "ts", RedisArg("\(WallClock.nowMilliseconds())"), "host", RedisArg(host)]
        for (k, v) in fields { command += [RedisArg(k), RedisArg(v)] }
        return command
    }
}
