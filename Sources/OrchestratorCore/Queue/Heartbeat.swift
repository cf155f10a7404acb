/// Liveness in Redis, one definition for both executables: the heartbeat hashes of workers
/// (`orchestrator:<prefix>worker:<id>`) and of the orchestrator (`orchestrator:<prefix>instance`),
/// their TTL, fields and states, and the periods of the housekeeping both sides run.
public enum Heartbeat {
    /// A heartbeat key expires this long after its last refresh; an owner silent longer is dead
    /// for recovery (the Lua scripts receive it as an argument).
    public static let ttl: Duration = .seconds(10)
    /// How often a live process refreshes its heartbeat (well inside the TTL).
    public static let refresh: Duration = .seconds(2)
    /// How often processing lists whose owner's heartbeat expired are requeued (and at start).
    public static let recoveryPeriod: Duration = .seconds(15)
    /// How often a worker promotes due retries and checks whether its queue is paused (a worker
    /// under an orchestrator leaves the promotion to it: the orchestrator promotes every poll).
    public static let housekeepingPeriod: Duration = .seconds(5)
    /// How long an idle worker blocks in BLMOVE before it looks around (a TERM wakes it at once:
    /// it shuts the socket down). Well inside the TTL, since the heartbeat is refreshed between blocks.
    public static let idleBlock: Duration = .seconds(5)
    /// An idle worker whose state did not change only extends its heartbeat's TTL (PEXPIRE);
    /// it rewrites the fields (memory, jobs done) this often.
    public static let idleRewrite: Duration = .seconds(30)
    /// How often the orchestrator reads the queues' stats hashes and retry and dead backlogs (for
    /// /metrics, alerts and history) and promotes due retries of queues without a retry backlog.
    public static let statsReadPeriod: Duration = .seconds(5)
    /// A job running this long shows busy in its worker's heartbeat, with its start time (a
    /// shorter one is not worth two Redis commands; a worker working through a backlog shows busy
    /// from its next refresh on).
    public static let busyAfter: Duration = .milliseconds(250)
    /// How often a busy worker adds the job durations it counted to the stats hash (and when its queue runs empty).
    public static let durationsFlush: Duration = .seconds(1)
    /// How often the orchestrator reads every worker's heartbeat (starting and busy ones every poll).
    public static let orchestratorReadPeriod: Duration = .seconds(3)

    static var ttlArg: RedisArg { RedisArg(String(ttl.milliseconds)) }

    /// `HSET key fields…` then `PEXPIRE key ttl` (with `DEL` first when `replace`, so fields
    /// that are gone do not linger).
    static func commands(key: String, fields: [(String, String)], replace: Bool = false) -> [[RedisArg]] {
        var hset: [RedisArg] = ["HSET", RedisArg(key)]
        for (k, v) in fields { hset += [RedisArg(k), RedisArg(v)] }
        return (replace ? [["DEL", RedisArg(key)]] : []) + [hset, ["PEXPIRE", RedisArg(key), ttlArg]]
    }
}

/// A worker's state as its heartbeat says it.
public enum WorkerState: String, Sendable {
    case idle, busy, paused, draining
}

/// A worker's heartbeat hash (`orchestrator:<prefix>worker:<id>`, documented in the README's key
/// table): written by the worker, read by the orchestrator's poll, `status` and the dashboard.
/// The field names live here only (`Field`).
public struct WorkerHeartbeat: Sendable, Equatable {
    public var worker: String
    public var queue: String
    public var slot: Int
    public var pid: Int32
    public var host: String
    /// What the hash says; a state this version does not know reads as idle.
    public var state: WorkerState
    /// Wall-clock ms when the current job started (nil when idle).
    public var jobStartedAt: Int64?
    public var jobsDone: Int
    public var memory: ProcessTree.Memory
    public var startedAt: Int64
    public var orchestratorPID: Int32?
    /// The handler process running now (its process group), for the orchestrator to kill if the worker dies.
    public var handlerPID: Int32?

    /// The hash's field names.
    public enum Field: String, CaseIterable, Sendable {
        case worker, queue, slot, pid, host, state, jobStartedAt = "job_started_at", jobsDone = "jobs_done"
        case rssBytes = "rss_bytes", pssBytes = "pss_bytes", processes, startedAt = "started_at"
        case orchestratorPID = "orchestrator_pid", handlerPID = "handler_pid"
    }

    public init(worker: String, queue: String, slot: Int, pid: Int32, host: String, state: WorkerState, jobStartedAt: Int64?,
                jobsDone: Int, memory: ProcessTree.Memory, startedAt: Int64, orchestratorPID: Int32?, handlerPID: Int32?) {
        self.worker = worker; self.queue = queue; self.slot = slot; self.pid = pid; self.host = host; self.state = state
        self.jobStartedAt = jobStartedAt; self.jobsDone = jobsDone; self.memory = memory; self.startedAt = startedAt
        self.orchestratorPID = orchestratorPID; self.handlerPID = handlerPID
    }

    /// Decodes a hash as HGETALL returns it; nil when it names no pid or no queue (not a
    /// heartbeat). Missing numbers read as 0 (processes as 1, PSS as the RSS of a worker that
    /// did not write it), an empty `job_started_at` or `handler_pid` as nil.
    public init?(fields f: [String: String]) {
        func text(_ k: Field) -> String? { f[k.rawValue] }
        func int(_ k: Field) -> Int? { text(k).flatMap { Int($0) } }
        func int64(_ k: Field) -> Int64? { text(k).flatMap { Int64($0) } }
        func int32(_ k: Field) -> Int32? { text(k).flatMap { Int32($0) } }
        guard let pid = int32(.pid), let queue = text(.queue) else { return nil }
        let rss = int(.rssBytes) ?? 0
        self.init(worker: text(.worker) ?? "", queue: queue, slot: int(.slot) ?? 0, pid: pid, host: text(.host) ?? "",
                  state: text(.state).flatMap(WorkerState.init(rawValue:)) ?? .idle, jobStartedAt: int64(.jobStartedAt),
                  jobsDone: int(.jobsDone) ?? 0,
                  memory: ProcessTree.Memory(rssBytes: rss, pssBytes: int(.pssBytes) ?? rss, processes: int(.processes) ?? 1),
                  startedAt: int64(.startedAt) ?? 0, orchestratorPID: int32(.orchestratorPID), handlerPID: int32(.handlerPID))
    }

    /// The hash's fields, for HSET (an absent optional is written empty).
    public var fields: [(String, String)] {
        let values: [(Field, String)] = [
            (.worker, worker), (.queue, queue), (.slot, "\(slot)"), (.pid, "\(pid)"), (.host, host), (.state, state.rawValue),
            (.jobStartedAt, jobStartedAt.map { "\($0)" } ?? ""), (.jobsDone, "\(jobsDone)"),
            (.rssBytes, "\(memory.rssBytes)"), (.pssBytes, "\(memory.pssBytes)"), (.processes, "\(memory.processes)"),
            (.startedAt, "\(startedAt)"), (.orchestratorPID, orchestratorPID.map { "\($0)" } ?? ""),
            (.handlerPID, handlerPID.map { "\($0)" } ?? ""),
        ]
        return values.map { ($0.0.rawValue, $0.1) }
    }
}

/// A gate for "every N seconds" work: due at first use, then once per interval.
public struct Every: Sendable {
    public let interval: Duration
    public private(set) var last: ContinuousClock.Instant?

    public init(_ interval: Duration) { self.interval = interval }

    /// True (and restarts the interval) when the interval has passed since the last time it was due.
    public mutating func isDue(_ now: ContinuousClock.Instant) -> Bool {
        if let last, now - last < interval { return false }
        last = now
        return true
    }

    /// Done now out of turn (at start-up): the next time is one interval from `now`.
    public mutating func restart(at now: ContinuousClock.Instant) { last = now }

    /// Due again at the next check (what was done did not succeed).
    public mutating func reset() { last = nil }
}
