/// What the caps allowed a queue, and which cap bound (for the log).
public struct QueueTarget: Sendable, Equatable {
    /// ceil(pending / jobs-per-worker) clamped to [min-per-queue, max-per-queue].
    public var demand: Int
    /// The share left after `--max-total` (fair, max-min).
    public var allotted: Int
    /// The cap that made `allotted` lower than the raw need, if any.
    public var limitedBy: ScalingLimit?

    public init(demand: Int, allotted: Int, limitedBy: ScalingLimit? = nil) {
        self.demand = demand
        self.allotted = allotted
        self.limitedBy = limitedBy
    }
}

public enum ScalingLimit: Sendable, Equatable, CustomStringConvertible {
    case maxPerQueue(wanted: Int, cap: Int)
    case maxTotal(wanted: Int, cap: Int)

    public var description: String {
        switch self {
        case .maxPerQueue(let wanted, let cap): return "limited by --max-per-queue \(cap) (wanted \(wanted))"
        case .maxTotal(let wanted, let cap): return "limited by --max-total \(cap) (wanted \(wanted))"
        }
    }
}

/// One queue's situation, as values: the policy reads no clock, Redis or process table.
public struct ScalingInput: Sendable, Equatable {
    public var target: QueueTarget
    /// Workers of the queue that are not draining.
    public var active: Int
    /// Since when `active` has exceeded the target without the total cap forcing it (nil: it hasn't).
    public var lowerTargetSince: ContinuousClock.Instant?
    public var now: ContinuousClock.Instant

    public init(target: QueueTarget, active: Int, lowerTargetSince: ContinuousClock.Instant?, now: ContinuousClock.Instant) {
        self.target = target
        self.active = active
        self.lowerTargetSince = lowerTargetSince
        self.now = now
    }
}

public enum ScalingDecision: Sendable, Equatable {
    case hold
    case grow(by: Int)
    case shrink(by: Int)
    /// A lower target has not held for `--scale-down-delay` yet.
    case waitToShrink(until: ContinuousClock.Instant)
}

/// The scaling rules: `ceil(pending / jobsPerWorker)` per queue, clamped, shared fairly under
/// the total cap; scale up at once, scale down only after the lower target held for a delay
/// (at once when the total cap takes workers for another queue).
public struct ScalingPolicy: Sendable, Equatable {
    public var jobsPerWorker: Int
    public var minPerQueue: Int
    public var maxPerQueue: Int
    public var maxTotal: Int
    public var scaleDownDelay: Duration

    /// The defaults are the options' (`OptionSpec`), parsed as if given.
    public init(jobsPerWorker: Int = OptionSpec.jobsPerWorker.defaultInt, minPerQueue: Int = OptionSpec.minPerQueue.defaultInt,
                maxPerQueue: Int = OptionSpec.maxPerQueue.defaultInt, maxTotal: Int = OptionSpec.maxTotal.defaultInt,
                scaleDownDelay: Duration = OptionSpec.scaleDownDelay.defaultDuration) {
        self.jobsPerWorker = jobsPerWorker
        self.minPerQueue = minPerQueue
        self.maxPerQueue = maxPerQueue
        self.maxTotal = maxTotal
        self.scaleDownDelay = scaleDownDelay
    }

    /// Workers one queue wants on its own: the seed's table (0→0, 1→1, 50→1, 51→2, 322→7, 500→10).
    public func rawNeed(pending: Int) -> Int {
        let p = max(0, pending)
        return (p + jobsPerWorker - 1) / jobsPerWorker
    }

    public func demand(pending: Int) -> Int {
        min(max(rawNeed(pending: pending), minPerQueue), maxPerQueue)
    }

    /// Targets for every queue. When demands exceed `maxTotal`, water-filling: every queue gets
    /// its floor, then one worker at a time goes round the queues still short, so no queue holds
    /// more than its share while another with pending jobs starves. Ties go to the queue with
    /// more pending jobs, then by name: deterministic. `reserved` workers (held by queues that are
    /// not scaled now, e.g. an unreadable key) come out of `maxTotal` first. `needs` replaces
    /// `rawNeed` for the queues it names (`--scaling adaptive`).
    public func targets(pending: [String: Int], needs: [String: Int] = [:], reserved: Int = 0) -> [String: QueueTarget] {
        var result: [String: QueueTarget] = [:]
        for (queue, p) in pending {
            let need = needs[queue] ?? rawNeed(pending: p)
            let d = min(max(need, minPerQueue), maxPerQueue)
            result[queue] = QueueTarget(demand: d, allotted: d, limitedBy: need > maxPerQueue ? .maxPerQueue(wanted: need, cap: maxPerQueue) : nil)
        }
        let total = result.values.reduce(0) { $0 + $1.demand }
        let capacity = max(0, maxTotal - reserved)
        guard total > capacity else { return result }
        // Largest backlog first, then by name.
        let order = pending.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map(\.key)
        let demand = order.map { result[$0]?.demand ?? 0 }
        let given = share(capacity, demand: demand)
        for (i, q) in order.enumerated() where given[i] < demand[i] {
            result[q]?.allotted = given[i]
            result[q]?.limitedBy = .maxTotal(wanted: demand[i], cap: maxTotal)
        }
        return result
    }

    /// Shares `capacity` among demands (in priority order): each gets its floor (`minPerQueue`,
    /// while there is capacity), then one more each in turn until the capacity or the demands run out.
    private func share(_ capacity: Int, demand: [Int]) -> [Int] {
        var given = demand.map { _ in 0 }
        var left = capacity
        for i in demand.indices {
            given[i] = min(minPerQueue, demand[i], left)
            left -= given[i]
        }
        var progressed = true
        while left > 0 && progressed {
            progressed = false
            for i in demand.indices where left > 0 && given[i] < demand[i] {
                given[i] += 1
                left -= 1
                progressed = true
            }
        }
        return given
    }

    public func decide(_ input: ScalingInput) -> ScalingDecision {
        let target = input.target.allotted
        if input.active < target { return .grow(by: target - input.active) }
        if input.active == target { return .hold }
        // The total cap wants these workers for another queue: no delay.
        if target < input.target.demand { return .shrink(by: input.active - target) }
        guard let since = input.lowerTargetSince else { return .waitToShrink(until: input.now + scaleDownDelay) }
        if input.now - since >= scaleDownDelay { return .shrink(by: input.active - target) }
        return .waitToShrink(until: since + scaleDownDelay)
    }
}

/// A worker as the scale-down choice sees it.
public struct WorkerCandidate: Sendable, Equatable {
    public var pid: Int32
    public var isBusy: Bool
    public var startedAt: ContinuousClock.Instant

    public init(pid: Int32, isBusy: Bool, startedAt: ContinuousClock.Instant) {
        self.pid = pid
        self.isBusy = isBusy
        self.startedAt = startedAt
    }
}

extension ScalingPolicy {
    /// Which workers to drain: idle ones first (newest first), busy ones only when no idle one is
    /// left; a busy worker finishes its job before it exits.
    public static func pickToStop(_ workers: [WorkerCandidate], count: Int) -> [Int32] {
        let ordered = workers.sorted {
            if $0.isBusy != $1.isBusy { return !$0.isBusy }
            if $0.startedAt != $1.startedAt { return $0.startedAt > $1.startedAt }
            return $0.pid > $1.pid
        }
        return ordered.prefix(max(0, count)).map(\.pid)
    }
}
