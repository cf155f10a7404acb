/// What an operator changes in a queue, from the CLI or the dashboard: pause, resume, requeue its
/// dead letters. Each writes its event to the stream, as the orchestrator's own events.
public enum QueueControl {
    /// Adds (or removes) the queues to the paused set; workers finish their job and stop.
    /// `client`: the HTTP peer of a dashboard action, recorded in the event.
    public static func setPaused(_ paused: Bool, queues: [String], redis: any RedisClient, prefix: String,
                                 host: String = WallClock.hostName(), client: String? = nil) throws(RedisError) {
        guard !queues.isEmpty else { return }
        _ = try redis.send([paused ? "SADD" : "SREM", RedisArg(QueueKeys.paused(prefix: prefix))] + queues.map { RedisArg($0) })
        let extra = client.map { [("client", $0)] } ?? []
        _ = try? redis.pipeline(queues.map { q in event(paused ? "pause" : "resume", prefix: prefix, host: host, [("queue", q)] + extra) })
    }

    /// Moves every dead letter of `queue` back to its front with a fresh attempt count; returns how many.
    public static func requeueDead(queue: String, redis: any RedisClient, prefix: String, host: String = WallClock.hostName()) throws(RedisError) -> Int {
        let moved = try DeadLetters(redis: redis, keys: QueueKeys(prefix: prefix, queue: queue)).requeueAll()
        _ = try? redis.send(event("dead_requeue", prefix: prefix, host: host, [("queue", queue), ("jobs", "\(moved)")]))
        return moved
    }

    /// What an operator does to one queue's dead letters or retries (`/api/queues/Q/dead/…`,
    /// `…/retry-now`). Each event carries `client` (the HTTP peer) when given.
    public enum JobAction: String, Sendable { case requeue, delete, retryNow = "retry-now" }

    /// Requeues or deletes the dead letters of `queue` whose job id is `id` (every one when `id` is
    /// nil), or promotes every waiting retry (`retryNow`, `id` ignored). Each move is atomic in
    /// Redis (the requeue and promote scripts check key types before writing; a delete is one
    /// LREM, a delete of all one MULTI/EXEC). Returns how many jobs it moved or deleted, or nil
    /// when `id` names no dead letter of the queue. Writes `dead_requeue`, `dead_delete` or `retry_now`.
    public static func perform(_ action: JobAction, queue: String, id: String?, redis: any RedisClient, prefix: String,
                               host: String = WallClock.hostName(), client: String? = nil) throws(RedisError) -> Int? {
        let keys = QueueKeys(prefix: prefix, queue: queue)
        let dead = DeadLetters(redis: redis, keys: keys)
        var count = 0
        switch (action, id) {
        case (.retryNow, _):
            let retries = RedisJobQueue(redis: redis, keys: keys, workerID: "operator")
            var moved = 0
            repeat {
                moved = try retries.promoteDueRetries(nowMilliseconds: Int64.max, limit: 1000)
                count += moved
            } while moved > 0
        case (.requeue, nil): count = try dead.requeueAll()
        case (.delete, nil): count = try dead.purge()
        case (_, let id?):
            let entries = try dead.entries(id: id)
            guard !entries.isEmpty else { return nil }
            for entry in entries where try (action == .requeue ? dead.requeue(entry) : dead.delete(entry)) { count += 1 }
        }
        var fields = [("queue", queue), ("jobs", "\(count)")]
        if let id { fields.append(("id", id)) }
        if let client { fields.append(("client", client)) }
        let type = action == .requeue ? "dead_requeue" : action == .delete ? "dead_delete" : "retry_now"
        _ = try? redis.send(event(type, prefix: prefix, host: host, fields))
        return count
    }

    /// The paused queues.
    public static func paused(redis: any RedisClient, prefix: String) throws(RedisError) -> Set<String> {
        Set((try redis.send(["SMEMBERS", RedisArg(QueueKeys.paused(prefix: prefix))]).array ?? []).compactMap(\.text))
    }

    /// The queues the running orchestrator watches (nil when none runs).
    public static func watched(redis: any RedisClient, prefix: String) -> [String]? {
        guard let text = (try? redis.send(["HGET", RedisArg(QueueKeys.instance(prefix: prefix)), RedisArg(InstanceRecord.Field.queues.rawValue)]))?.text else { return nil }
        return text.split(separator: ",").map(String.init)
    }

    /// An event as the orchestrator writes them: `type`, `ts`, `host` (where the change was made), then the fields.
    static func event(_ type: String, prefix: String, host: String, _ fields: [(String, String)]) -> [RedisArg] {
        var command: [RedisArg] = ["XADD", RedisArg(QueueKeys.events(prefix: prefix)), "MAXLEN", "~", "100000", "*", RedisArg(EventLog.Field.type.rawValue), RedisArg(type),
                                   RedisArg(EventLog.Field.ts.rawValue), RedisArg("\(WallClock.nowMilliseconds())"), RedisArg(EventLog.Field.host.rawValue), RedisArg(host)]
        for (k, v) in fields { command += [RedisArg(k), RedisArg(v)] }
        return command
    }
}
