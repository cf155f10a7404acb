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

/// The fields of a worker's heartbeat hash (documented in the README's key table).
public struct WorkerHeartbeat: Sendable, Equatable {
    public var worker: String
    public var queue: String
    public var slot: Int
    public var pid: Int32
    public var host: String
    public var state: WorkerState
    /// Wall-clock ms when the current job started (nil when idle).
    public var jobStartedAt: Int64?
    public var jobsDone: Int
    public var memory: ProcessTree.Memory
    public var startedAt: Int64
    public var orchestratorPID: Int32?
    /// The handler process running now (its process group), for the orchestrator to kill if the worker dies.
    public var handlerPID: Int32?

    public var fields: [(String, String)] {
        [("worker", worker), ("queue", queue), ("slot", "\(slot)"), ("pid", "\(pid)"), ("host", host), ("state", state.rawValue),
         ("job_started_at", jobStartedAt.map { "\($0)" } ?? ""), ("jobs_done", "\(jobsDone)"),
         ("rss_bytes", "\(memory.rssBytes)"), ("pss_bytes", "\(memory.pssBytes)"), ("processes", "\(memory.processes)"),
         ("started_at", "\(startedAt)"), ("orchestrator_pid", orchestratorPID.map { "\($0)" } ?? ""),
         ("handler_pid", handlerPID.map { "\($0)" } ?? "")]
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
