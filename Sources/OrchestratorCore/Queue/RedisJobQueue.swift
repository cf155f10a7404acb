/// A job taken from the queue: the payload is opaque bytes.
public struct ClaimedJob: Sendable, Equatable {
    public let payload: [UInt8]
    /// 1 for the first run; counted when the job starts, so a worker that dies mid-job still uses one.
    public let attempt: Int
    /// SHA-1 of the payload, as hex (also passed to handlers as `JOB_ID`).
    public let id: String
    /// The error recorded by the previous failed attempt, if any.
    public let previousError: String
}

/// What `fail` did with the job.
public enum FailOutcome: String, Sendable {
    case requeued, delayed, dead, lost
}

/// The reliable queue of one Redis list, seen from one worker (or from the orchestrator for
/// recovery). Every transition is one command or one Lua script, so a crash between two calls
/// leaves the job in a list, never nowhere.
public final class RedisJobQueue {
    public let keys: QueueKeys
    public let workerID: String
    public let redis: RedisConnection

    public init(redis: RedisConnection, keys: QueueKeys, workerID: String) {
        self.redis = redis
        self.keys = keys
        self.workerID = workerID
    }

    public var processingKey: String { keys.processing(workerID) }

    /// `BLMOVE pending processing RIGHT LEFT timeout`: nil when nothing arrived in time.
    public func pop(timeout: Duration) throws(RedisError) -> [UInt8]? {
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        let reply = try redis.send(["BLMOVE", RedisArg(keys.pending), RedisArg(processingKey), "RIGHT", "LEFT", RedisArg(String(seconds))])
        return reply.bytes
    }

    /// Counts the attempt of the job just popped and returns it.
    public func begin(payload: [UInt8]) throws(RedisError) -> ClaimedJob {
        let reply = try redis.eval(QueueScripts.begin, keys: [processingKey, keys.attempts, keys.heartbeat(workerID)],
                                   args: [RedisArg(String(WallClock.nowMilliseconds()))])
        guard let items = reply.array, items.count == 3, let attempt = items[0].int else {
            throw .unexpectedReply("begin script: \(reply)")
        }
        return ClaimedJob(payload: payload, attempt: attempt, id: items[1].text ?? "", previousError: items[2].text ?? "")
    }

    /// Puts a job that was popped while draining back at the front of the queue, untouched.
    public func pushBack() throws(RedisError) {
        _ = try redis.eval(QueueScripts.recover, keys: [processingKey, keys.pending, keys.heartbeat(workerID)], args: ["force"])
    }

    /// Pushes the result record and acknowledges. Returns false when the job was no longer held.
    @discardableResult
    public func complete(id: String, record: [UInt8], jobsDone: Int = 0) throws(RedisError) -> Bool {
        let reply = try redis.eval(QueueScripts.complete, keys: [processingKey, keys.results, keys.attempts, keys.stats, keys.heartbeat(workerID)],
                                   args: [RedisArg(bytes: record), RedisArg(id), RedisArg(jobsDone)])
        return (reply.int ?? 0) > 0
    }

    /// Records a failed attempt: requeue, delay, or dead-letter when `attempt >= maxAttempts`.
    public func fail(id: String, error: String, attempt: Int, maxAttempts: Int, deadEntry: [UInt8], record: [UInt8],
                     retryAtMilliseconds: Int64, jobsDone: Int = 0) throws(RedisError) -> FailOutcome {
        let reply = try redis.eval(
            QueueScripts.fail,
            keys: [processingKey, keys.pending, keys.dead, keys.results, keys.attempts, keys.stats, keys.retry, keys.heartbeat(workerID)],
            args: [RedisArg(id), RedisArg(error), RedisArg(attempt), RedisArg(maxAttempts), RedisArg(bytes: deadEntry),
                   RedisArg(bytes: record), RedisArg(String(retryAtMilliseconds)), RedisArg(jobsDone),
                   RedisArg("\(workerID):\(jobsDone):\(WallClock.nowMilliseconds())")])
        guard let text = reply.text, let outcome = FailOutcome(rawValue: text) else {
            throw .unexpectedReply("fail script: \(reply)")
        }
        return outcome
    }

    /// Moves due retries back to the queue. Returns how many moved.
    @discardableResult
    public func promoteDueRetries(nowMilliseconds: Int64, limit: Int = 100) throws(RedisError) -> Int {
        try redis.eval(QueueScripts.promote, keys: [keys.retry, keys.pending], args: [RedisArg(String(nowMilliseconds)), RedisArg(limit)]).int ?? 0
    }

    /// Requeues every processing list of this queue whose owner's heartbeat has expired.
    /// Returns the number of jobs moved back.
    @discardableResult
    public func recoverAbandoned() throws(RedisError) -> Int {
        var moved = 0
        for key in try processingLists() {
            let owner = String(key.dropFirst(keys.processingPrefix.count))
            if owner == workerID { continue }
            let n = try redis.eval(QueueScripts.recover, keys: [key, keys.pending, keys.heartbeat(owner)], args: [""]).int ?? 0
            if n > 0 { moved += n }
        }
        return moved
    }

    /// Requeues the jobs of a worker known to be dead, whatever its heartbeat says.
    @discardableResult
    public func requeue(ownerID: String) throws(RedisError) -> Int {
        try redis.eval(QueueScripts.recover, keys: [keys.processing(ownerID), keys.pending, keys.heartbeat(ownerID)], args: ["force"]).int ?? 0
    }

    /// Every `fila:q:processing:*` key.
    public func processingLists() throws(RedisError) -> [String] {
        try redis.scan(match: keys.processingPattern)
    }
}

extension RedisConnection {
    /// `SCAN` to completion for a pattern.
    public func scan(match pattern: String) throws(RedisError) -> [String] {
        var cursor = "0"
        var found: [String] = []
        repeat {
            let reply = try send(["SCAN", RedisArg(cursor), "MATCH", RedisArg(pattern), "COUNT", "500"])
            guard let parts = reply.array, parts.count == 2, let next = parts[0].text else {
                throw .unexpectedReply("SCAN: \(reply)")
            }
            cursor = next
            found += (parts[1].array ?? []).compactMap(\.text)
        } while cursor != "0"
        return found
    }
}
