/// Why a worker stops taking jobs.
public enum WorkerStopReason: String, Sendable, Equatable {
    /// TERM/INT/HUP: finish the current job, exit 0.
    case drainRequested = "drain requested"
    /// The orchestrator that started us is gone: drain the same way.
    case orphaned = "parent orchestrator gone"
    /// `--max-jobs-per-worker` reached: exit 75 so the orchestrator replaces us.
    case maxJobs = "max jobs per worker reached"
    /// `--max-worker-rss-mb` exceeded by the process tree's proportional memory (PSS): exit 75.
    case maxMemory = "process tree memory (PSS) over the limit"
    /// A take found the worker's fleet slot lease gone, held by another, or about to expire
    /// unrenewed (its orchestrator frozen or cut off): exit 77 (`ExitCodes.leaseLost`).
    case leaseLost = "slot lease lost"

    public var exitCode: Int32 {
        switch self {
        case .drainRequested, .orphaned: return ExitCodes.ok
        case .maxJobs, .maxMemory: return ExitCodes.recycle
        case .leaseLost: return ExitCodes.leaseLost
        }
    }
}

/// Pure decisions of the worker loop, kept apart from I/O so they are unit-tested.
public enum WorkerPolicy {
    /// Whether to take another job, checked between jobs.
    public static func stopReason(drainRequested: Bool, parentPID: Int32, expectedParent: Int32?,
                                  jobsDone: Int, maxJobs: Int, treeMemoryBytes: Int, maxRSSMB: Int) -> WorkerStopReason? {
        if drainRequested { return .drainRequested }
        if let expectedParent, parentPID != expectedParent { return .orphaned }
        if maxJobs > 0 && jobsDone >= maxJobs { return .maxJobs }
        // Only after a job: a limit below the worker's own size must not become a tight
        // start-exit-restart loop; at worst it recycles after every job.
        if maxRSSMB > 0 && jobsDone > 0 && treeMemoryBytes > maxRSSMB * 1024 * 1024 { return .maxMemory }
        return nil
    }

    /// What to do with a failed attempt: dead-letter it, requeue at once, or wait until a due time.
    public enum RetryPlan: Equatable, Sendable {
        case deadLetter
        case requeueNow
        case retryAt(milliseconds: Int64)
    }

    public static func retryPlan(attempt: Int, maxAttempts: Int, retryDelay: Duration, nowMilliseconds: Int64) -> RetryPlan {
        if attempt >= maxAttempts { return .deadLetter }
        if retryDelay <= .zero { return .requeueNow }
        // Doubling each attempt: delay, 2·delay, 4·delay … capped at one day.
        let factor = Int64(1) << Int64(min(max(attempt - 1, 0), 20))
        let wait = min(retryDelay.milliseconds * factor, 86_400_000)
        return .retryAt(milliseconds: nowMilliseconds + wait)
    }
}

extension ExitCodes {
    /// Worker only: its fleet slot lease was not its own any more (see `LeaseFence`); it took no
    /// further job (EX_NOPERM: no longer permitted to work in that slot).
    public static let leaseLost: Int32 = 77
}

extension LeaseFence {
    /// The variables through which an orchestrator passes a worker its slot lease at spawn.
    public static let keyVariable = "RPA_LEASE_KEY", holderVariable = "RPA_LEASE_HOLDER", marginVariable = "RPA_LEASE_MARGIN_MS"

    /// The lease from a worker's environment; nil (no fencing) when the key or holder is missing
    /// or empty: a worker started alone or by an older orchestrator.
    public static func fromEnvironment(_ env: [String: String]) -> LeaseFence? {
        guard let key = env[keyVariable], !key.isEmpty, let holder = env[holderVariable], !holder.isEmpty else { return nil }
        return LeaseFence(key: key, holder: holder, marginMilliseconds: env[marginVariable].flatMap { Int64($0) }.map { max(0, $0) } ?? 1000)
    }

    /// The environment entries that pass this lease to a worker.
    public var environment: [String: String] {
        [Self.keyVariable: key, Self.holderVariable: holder, Self.marginVariable: String(marginMilliseconds)]
    }
}
