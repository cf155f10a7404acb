/// A job taken from the queue: the payload is opaque bytes.
public struct ClaimedJob: Sendable, Equatable {
    public let payload: [UInt8]
    /// This attempt's number: 1 for a producer's fresh payload, more once attempts of this job
    /// instance failed or their worker died (counted in the job's envelope, not by its bytes).
    public let attempt: Int
    /// The job's id (also passed to handlers as `JOB_ID`): its per-instance id when a `Client`
    /// enqueued it, else the SHA-1 of the payload as hex (identical plain payloads share it, but
    /// never their attempt count).
    public let id: String
    /// The per-instance id from the envelope (nil for a plain producer's payload).
    public let instanceID: String?
    /// The error recorded by the previous failed attempt, if any.
    public let previousError: String

    public init(payload: [UInt8], attempt: Int, id: String, instanceID: String? = nil, previousError: String = "") {
        self.payload = payload
        self.attempt = attempt
        self.id = id
        self.instanceID = instanceID
        self.previousError = previousError
    }

    /// The job a popped queue element holds.
    public init(element: [UInt8]) {
        let envelope = JobEnvelope.decode(element)
        self.init(payload: envelope.payload, attempt: envelope.attemptsMade + 1, id: envelope.instanceID ?? SHA1.hex(envelope.payload),
                  instanceID: envelope.instanceID, previousError: envelope.lastError)
    }
}

/// Where a job's result is also stored by its id: `orchestrator:<prefix>result:<instance id>`,
/// a string with a TTL (`--result-ttl`). Only jobs with an instance id (enqueued by the Python
/// `Client`) get one, so plain producers cost no extra memory.
public struct ResultByID: Sendable, Equatable {
    public var key: String
    public var ttlMilliseconds: Int64

    /// Nil when the job has no instance id or results by id are off (`--result-ttl 0`).
    public init?(job: ClaimedJob, prefix: String, ttl: Duration) {
        guard let id = job.instanceID, ttl > .zero else { return nil }
        key = QueueKeys.resultByID(prefix: prefix, id)
        ttlMilliseconds = max(1, ttl.milliseconds)
    }
}

/// What `complete` did: whether the job was still held, the next job taken, the keys skipped.
public struct Completion: Sendable {
    public var held: Bool
    public var next: [UInt8]?
    public var skipped: [KeyFault]
    /// A fenced worker's take was refused: what its slot lease key holds ('' when missing, the
    /// worker's own value when about to expire unrenewed). nil: taken, or not asked for.
    public var lostTo: String? = nil
}

/// A worker's slot lease, as its orchestrator passed it at spawn: every take checks, inside Redis,
/// that `key` still holds `holder` with at least `marginMilliseconds` to live. A worker started
/// without a fleet (no lease) has none and takes as before.
public struct LeaseFence: Sendable, Equatable {
    public var key: String
    public var holder: String
    public var marginMilliseconds: Int64

    public init(key: String, holder: String, marginMilliseconds: Int64) {
        self.key = key
        self.holder = holder
        self.marginMilliseconds = marginMilliseconds
    }

    /// What `fence` answers when the lease is missing because Redis lost the fleet's keys (or the
    /// fleet is reclaiming its slots after that): wait for the orchestrator, do not exit.
    public static let keysLost = "\nfleet-keys-lost"
    /// The script arguments: the lease, and the fleet's epoch and reclaim keys under the
    /// worker's prefix (the orchestrator that spawned it passed it the same prefix).
    func args(_ fleet: FleetKeys) -> [RedisArg] {
        [RedisArg(key), RedisArg(holder), RedisArg(String(marginMilliseconds)), RedisArg(fleet.epoch), RedisArg(fleet.reclaim)]
    }
}

/// What a fenced non-blocking take found.
public struct FencedTake: Sendable, Equatable {
    public var job: [UInt8]?
    /// Refused: what the lease key holds (see `Completion.lostTo`).
    public var lostTo: String?
    /// How long the lease lives on (nil: no expiry, or no fence), to bound the next blocking wait.
    public var leaseMilliseconds: Int64?
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
    public let redis: any RedisClient

    /// The slot lease every take checks; nil (no fleet): takes are plain LMOVE/BLMOVE.
    public let fence: LeaseFence?

    public init(redis: any RedisClient, keys: QueueKeys, workerID: String, fence: LeaseFence? = nil) {
        self.redis = redis
        self.keys = keys
        self.workerID = workerID
        self.fence = fence
    }

    public var processingKey: String { keys.processing(workerID) }
    /// The fleet keys the fence checks besides the lease (under this queue's prefix).
    var fleetKeys: FleetKeys { QueueKeys.fleet(prefix: keys.prefix) }

    /// `BLMOVE pending processing RIGHT LEFT timeout`: nil when nothing arrived in time.
    public func pop(timeout: Duration) throws(RedisError) -> [UInt8]? {
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        let reply = try redis.send(["BLMOVE", RedisArg(keys.pending), RedisArg(processingKey), "RIGHT", "LEFT", RedisArg(String(seconds))])
        return reply.bytes
    }

    /// `LMOVE pending processing RIGHT LEFT`: a job if one is waiting, nil at once otherwise.
    public func tryPop() throws(RedisError) -> [UInt8]? {
        try redis.send(["LMOVE", RedisArg(keys.pending), RedisArg(processingKey), "RIGHT", "LEFT"]).bytes
    }

    /// A non-blocking take through the fence (`QueueScripts.take`): one round trip, like `tryPop`,
    /// which it is when there is no fence. Refused with nothing written when the lease is not ours.
    public func take() throws(RedisError) -> FencedTake {
        guard let fence else { return FencedTake(job: try tryPop()) }
        let parts = try redis.eval(QueueScripts.take, keys: [keys.pending, processingKey], args: fence.args(fleetKeys)).array ?? []
        let ttl = parts.count > 2 ? parts[2].int.map(Int64.init) : nil
        return FencedTake(job: parts.first?.bytes, lostTo: parts.count > 1 ? parts[1].text : nil,
                          leaseMilliseconds: ttl.flatMap { $0 >= 0 ? $0 - fence.marginMilliseconds : nil })
    }

    /// After a blocking `pop` took `element`: nil when the lease is still ours (or there is no
    /// fence), else the job is back at the front of the queue, untouched, and this returns what
    /// the lease key holds (`QueueScripts.confirm`).
    public func confirm(_ element: [UInt8]) throws(RedisError) -> String? {
        guard let fence else { return nil }
        return try redis.eval(QueueScripts.confirm, keys: [processingKey, keys.pending], args: fence.args(fleetKeys) + [RedisArg(bytes: element)]).text
    }

    /// Puts a job that was popped while draining back at the front of the queue, untouched.
    public func pushBack() throws(RedisError) {
        _ = try redis.eval(QueueScripts.pushBack, keys: [processingKey, keys.pending, keys.heartbeat(workerID)], args: ["force"])
    }

    /// Pushes the result record of the job popped as `element` and acknowledges it; with `takeNext`
    /// also takes the next pending job in the same round trip. Returns whether the job was still
    /// held, the next job (nil when none was asked for or the queue was empty) and the counter or
    /// processing keys skipped for their type; with a fence, the next job only while the lease is ours. A results key of the wrong type throws
    /// (`RedisError.wrongTypeKey`) with nothing written: the job stays held. `byID` (the job's
    /// result-by-id key and its TTL, for jobs with an instance id) also stores the record there.
    public func complete(record: [UInt8], element: [UInt8], takeNext: Bool = false, byID: ResultByID? = nil) throws(RedisError) -> Completion {
        let reply = try redis.eval(QueueScripts.complete, keys: [processingKey, keys.results, keys.stats, keys.pending] + (byID.map { [$0.key] } ?? []),
                                   args: [RedisArg(bytes: record), RedisArg(bytes: element), takeNext ? "1" : "0", RedisArg(String(byID?.ttlMilliseconds ?? 0))]
                                       + (fence?.args(fleetKeys) ?? []))
        let parts = reply.array ?? []
        return Completion(held: (parts.first?.int ?? 0) > 0, next: parts.count > 1 ? parts[1].bytes : nil,
                          skipped: parts.count > 2 ? KeyFault.list(parts[2]) : [], lostTo: parts.count > 3 ? parts[3].text : nil)
    }

    /// The first job in our processing list, if any (after a completion whose reply was lost).
    public func held() throws(RedisError) -> [UInt8]? {
        try redis.send(["LINDEX", RedisArg(processingKey), "-1"]).bytes
    }

    /// Records a failed attempt of `job`: requeue (in an envelope counting this attempt and
    /// its error), delay, or dead-letter when `attempt >= maxAttempts`. A destination key of the
    /// wrong type throws (`RedisError.wrongTypeKey`) with nothing written: the job stays held.
    /// A dead job's result also goes to `byID` (see `complete`).
    public func fail(_ job: ClaimedJob, error: String, attempt: Int, maxAttempts: Int, deadEntry: [UInt8], record: [UInt8],
                     retryAtMilliseconds: Int64, tag: String, byID: ResultByID? = nil) throws(RedisError) -> (outcome: FailOutcome, skipped: [KeyFault]) {
        let envelope = JobEnvelope(attemptsMade: attempt, lastError: String(error.prefix(4096)), instanceID: job.instanceID, payload: job.payload)
        let reply = try redis.eval(
            QueueScripts.fail,
            keys: [processingKey, keys.pending, keys.dead, keys.results, keys.stats, keys.retry] + (byID.map { [$0.key] } ?? []),
            args: [RedisArg(attempt), RedisArg(maxAttempts), RedisArg(bytes: deadEntry), RedisArg(bytes: record),
                   RedisArg(String(retryAtMilliseconds)), RedisArg(tag), RedisArg(bytes: envelope.encoded()),
                   RedisArg(String(byID?.ttlMilliseconds ?? 0))])
        guard let parts = reply.array, let text = parts.first?.text, let outcome = FailOutcome(rawValue: text) else {
            throw .unexpectedReply("fail script: \(reply)")
        }
        return (outcome, parts.count > 1 ? KeyFault.list(parts[1]) : [])
    }

    /// Adds job durations counted in memory (`JobDuration` fields and `dur_ms_sum`) to the stats
    /// hash, one pipelined round trip. Returns the server's error when it refused (a stats key of the wrong type).
    public func addDurations(_ counts: [String: Int64]) throws(RedisError) -> String? {
        guard !counts.isEmpty else { return nil }
        let replies = try redis.pipeline(counts.sorted { $0.key < $1.key }.map { ["HINCRBY", RedisArg(keys.stats), RedisArg($0.key), RedisArg(String($0.value))] })
        for case .error(let message) in replies { return message }
        return nil
    }

    /// Moves due retries back to the queue. Returns how many moved.
    @discardableResult
    public func promoteDueRetries(nowMilliseconds: Int64, limit: Int = 100) throws(RedisError) -> Int {
        try redis.eval(QueueScripts.promote, keys: [keys.retry, keys.pending], args: [RedisArg(String(nowMilliseconds)), RedisArg(limit)]).int ?? 0
    }

    /// Requeues every processing list of this queue whose owner's heartbeat has expired (the
    /// attempt each job was running counts), except those of `sparing` (owners known alive: an
    /// orchestrator's own workers, whose heartbeats may have expired during a Redis outage).
    /// Returns the number of jobs moved back. A list the server refuses to move (a key of the
    /// wrong type) stays where it is and is passed to `refused`; the other lists are still recovered.
    @discardableResult
    public func recoverAbandoned(sparing: Set<String> = [], refused: (String, RedisError) -> Void = { _, _ in }) throws(RedisError) -> Int {
        var moved = 0
        for key in try processingLists() {
            let owner = String(key.dropFirst(keys.processingPrefix.count))
            if owner == workerID || sparing.contains(owner) { continue }
            do {
                let n = try redis.eval(QueueScripts.recoverDead, keys: [key, keys.pending, keys.heartbeat(owner)], args: [""]).int ?? 0
                if n > 0 { moved += n }
            } catch {
                if error.isRetryable { throw error }
                refused(key, error)
            }
        }
        return moved
    }

    /// Requeues the jobs of a worker known to be dead, whatever its heartbeat says; the attempt
    /// each was running counts.
    @discardableResult
    public func requeue(ownerID: String) throws(RedisError) -> Int {
        try redis.eval(QueueScripts.recoverDead, keys: [keys.processing(ownerID), keys.pending, keys.heartbeat(ownerID)], args: ["force"]).int ?? 0
    }

    /// Requeues, untouched (no attempt counted), the jobs of a worker the operator stopped: one
    /// SIGKILLed at the drain deadline. Returns the ids of the jobs moved back.
    public func requeueStopped(ownerID: String) throws(RedisError) -> [String] {
        let reply = try redis.eval(QueueScripts.pushBack, keys: [keys.processing(ownerID), keys.pending, keys.heartbeat(ownerID)],
                                   args: ["force", "elements"])
        return (reply.array ?? []).compactMap(\.bytes).map { ClaimedJob(element: $0).id }
    }

    /// Every `fila:q:processing:*` key.
    public func processingLists() throws(RedisError) -> [String] {
        try redis.scan(match: keys.processingPattern)
    }
}

extension RedisClient {
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
