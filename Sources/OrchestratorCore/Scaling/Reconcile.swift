/// One queue as the orchestrator saw it this poll, with its timers: values only.
public struct QueueSnapshot: Sendable, Equatable {
    public var name: String
    public var pending: Int
    /// `orchestrator pause`: target 0 at once; its share of `--max-total` goes to the others.
    public var isPaused: Bool
    /// False while the key cannot be read (WRONGTYPE…): its workers are held as they are.
    public var isReadable: Bool
    /// Crash backoff: no worker of this queue starts before this instant.
    public var backoffUntil: ContinuousClock.Instant?
    /// Since when a lower target has held (for `--scale-down-delay`).
    public var lowerTargetSince: ContinuousClock.Instant?
    /// When a rebalance line was last logged for this queue.
    public var lastSummary: ContinuousClock.Instant?
    /// `--scaling adaptive`: the measured need (nil: the fixed formula).
    public var adaptive: AdaptivePolicy.Need?

    public init(name: String, pending: Int, isPaused: Bool = false, isReadable: Bool = true, backoffUntil: ContinuousClock.Instant? = nil,
                lowerTargetSince: ContinuousClock.Instant? = nil, lastSummary: ContinuousClock.Instant? = nil) {
        self.name = name
        self.pending = pending
        self.isPaused = isPaused
        self.isReadable = isReadable
        self.backoffUntil = backoffUntil
        self.lowerTargetSince = lowerTargetSince
        self.lastSummary = lastSummary
    }
}

/// One worker process as the orchestrator tracks it: values only.
public struct WorkerSnapshot: Sendable, Equatable {
    public var pid: Int32
    public var queue: String
    public var isBusy: Bool
    /// Asked to stop (TERM sent): no longer counts for its queue, still counts for `--max-total`.
    public var isDraining: Bool
    public var startedAt: ContinuousClock.Instant

    public init(pid: Int32, queue: String, isBusy: Bool = false, isDraining: Bool = false, startedAt: ContinuousClock.Instant) {
        self.pid = pid
        self.queue = queue
        self.isBusy = isBusy
        self.isDraining = isDraining
        self.startedAt = startedAt
    }
}

/// What one reconcile pass decided: the actions, the rebalance decisions (rendered as the seed's
/// lines by `ScaleDecision.line`), and each queue's new target and timers. The supervisor performs the actions and keeps the timers.
public struct ReconcilePlan: Sendable, Equatable {
    public enum Action: Sendable, Equatable {
        case spawn(queue: String)
        case terminate(pid: Int32, queue: String)
    }

    public struct QueueOutcome: Sendable, Equatable {
        public var target: QueueTarget
        public var lowerTargetSince: ContinuousClock.Instant?
        public var lastSummary: ContinuousClock.Instant?
        /// It wanted workers but its crash backoff had not expired.
        public var heldByBackoff = false
        /// In a fleet of several hosts: the queue's target over all hosts (`target` is this host's share).
        public var fleetTarget: Int?
    }

    public var actions: [Action] = []
    /// In order: one per queue that grew, shrank, or logs its periodic steady line.
    public var decisions: [ScaleDecision] = []
    public var queues: [String: QueueOutcome] = [:]

    /// The decisions as the seed's info-level lines: `[ESCALAR]`, `[REDUZIR]`, `[EQUILIBRIO]`.
    public var lines: [String] { decisions.map(\.line) }
    public var spawns: [String] { actions.compactMap { if case .spawn(let q) = $0 { return q }; return nil } }
    public var terminations: [Int32] { actions.compactMap { if case .terminate(let pid, _) = $0 { return pid }; return nil } }
}

/// The reconcile step as a pure function: read → **plan** → apply. Given every queue's reading
/// and every worker, decides who starts and who drains under the policy, the caps (draining
/// workers included in `--max-total`), pause, unreadable keys, crash backoff and the scale-down
/// delay, and which seed-tagged lines to log. Reads no clock, Redis or process table.
public struct Reconcile: Sendable {
    public var policy: ScalingPolicy
    /// `--interval`: how often an `[EQUILIBRIO]` line repeats while nothing changes.
    public var summaryInterval: Duration

    public init(policy: ScalingPolicy, summaryInterval: Duration) {
        self.policy = policy
        self.summaryInterval = summaryInterval
    }

    public func plan(queues: [QueueSnapshot], workers: [WorkerSnapshot], now: ContinuousClock.Instant, fleet: FleetContext? = nil) -> ReconcilePlan {
        var plan = ReconcilePlan()
        let active = Dictionary(grouping: workers.filter { !$0.isDraining }, by: \.queue)
        let targets = targets(queues, active: active)
        // In a fleet, targets are the fleet's; this host runs its share, within its capacity and the free leases.
        let fleetTargets = fleet == nil ? [:] : targets.mapValues(\.allotted)
        let shares = fleet?.shares(of: targets) ?? [:]
        var room = fleet.map { min($0.capacity - workers.count, policy.maxTotal - $0.leased) } ?? policy.maxTotal - workers.count
        for q in queues {
            let mine = active[q.name] ?? []
            var outcome = ReconcilePlan.QueueOutcome(target: QueueTarget(demand: 0, allotted: 0), lowerTargetSince: q.lowerTargetSince,
                                                     lastSummary: q.lastSummary)
            guard q.isReadable else {
                outcome.target = QueueTarget(demand: mine.count, allotted: mine.count)
                plan.queues[q.name] = outcome
                continue
            }
            if let t = targets[q.name] { outcome.target = t }
            var queueRoom = room
            if let fleet, let share = shares[q.name] {
                outcome.target = share
                outcome.fleetTarget = fleetTargets[q.name]
                queueRoom = min(room, policy.maxPerQueue - (fleet.leasedPerQueue[q.name] ?? 0))
            }
            let before = queueRoom
            let changed = decide(q, workers: mine, outcome: &outcome, room: &queueRoom, plan: &plan, now: now, fleet: fleet)
            room -= before - queueRoom
            if changed || q.lastSummary.map({ now - $0 >= summaryInterval }) ?? true {
                if !changed {
                    plan.decisions.append(ScaleDecision(queue: q.name, direction: .steady, pending: q.pending, from: mine.count, to: mine.count))
                }
                outcome.lastSummary = now
            }
            plan.queues[q.name] = outcome
        }
        return plan
    }

    /// One readable queue: grow, wait, hold or shrink, appending actions and decisions to `plan`.
    /// Returns whether anything started or stopped.
    private func decide(_ q: QueueSnapshot, workers mine: [WorkerSnapshot], outcome: inout ReconcilePlan.QueueOutcome,
                        room: inout Int, plan: inout ReconcilePlan, now: ContinuousClock.Instant, fleet: FleetContext?) -> Bool {
        switch scaling(q, active: mine.count, outcome: outcome, now: now, fleet: fleet) {
        case .waitToShrink:
            outcome.lowerTargetSince = q.lowerTargetSince ?? now
            return false
        case .hold:
            outcome.lowerTargetSince = nil
            return false
        case .grow(let wanted):
            outcome.lowerTargetSince = nil
            let n = min(wanted, room)
            guard n > 0 else { return false }
            if let until = q.backoffUntil, now < until {
                outcome.heldByBackoff = true
                return false
            }
            plan.decisions.append(ScaleDecision(queue: q.name, direction: .up, pending: q.pending, from: mine.count, to: mine.count + n,
                                                reasons: growReasons(q, outcome: outcome, wanted: wanted, starting: n, fleet: fleet)))
            plan.actions += Array(repeating: .spawn(queue: q.name), count: n)
            room -= n
            return true
        case .shrink(let n):
            outcome.lowerTargetSince = nil
            let candidates = mine.map { WorkerCandidate(pid: $0.pid, isBusy: $0.isBusy, startedAt: $0.startedAt) }
            let chosen = ScalingPolicy.pickToStop(candidates, count: n)
            plan.decisions.append(ScaleDecision(queue: q.name, direction: .down, pending: q.pending, from: mine.count,
                                                to: mine.count - chosen.count, reasons: shrinkReasons(q, outcome: outcome, fleet: fleet)))
            plan.actions += chosen.map { .terminate(pid: $0, queue: q.name) }
            return true
        }
    }
}

extension Reconcile {
    /// Every readable, unpaused queue's target. An unreadable queue keeps what it has, out of the
    /// others' share; a paused one wants nothing.
    func targets(_ queues: [QueueSnapshot], active: [String: [WorkerSnapshot]]) -> [String: QueueTarget] {
        let held = queues.filter { !$0.isReadable }.reduce(0) { $0 + (active[$1.name]?.count ?? 0) }
        let scaled = queues.filter { $0.isReadable && !$0.isPaused }
        return policy.targets(pending: Dictionary(uniqueKeysWithValues: scaled.map { ($0.name, $0.pending) }),
                              needs: Dictionary(uniqueKeysWithValues: scaled.compactMap { q in q.adaptive.map { (q.name, $0.workers) } }),
                              reserved: held)
    }

    /// The policy's decision for one readable queue, with pause and the fleet's give-back applied.
    func scaling(_ q: QueueSnapshot, active: Int, outcome: ReconcilePlan.QueueOutcome, now: ContinuousClock.Instant,
                 fleet: FleetContext?) -> ScalingDecision {
        // Pausing is an order, not a load change: no scale-down delay.
        let decision = q.isPaused
            ? (active == 0 ? .hold : .shrink(by: active))
            : policy.decide(ScalingInput(target: outcome.target, active: active, lowerTargetSince: q.lowerTargetSince, now: now))
        // In a fleet, more than our share while the fleet as a whole is not above its target means
        // another host is short of its share (it joined, or took over): give the slots back at once.
        if case .waitToShrink = decision, let fleet, let total = outcome.fleetTarget, (fleet.leasedPerQueue[q.name] ?? 0) <= total {
            return .shrink(by: active - outcome.target.allotted)
        }
        return decision
    }

    /// Why an `[ESCALAR]` starts `starting` of `wanted`: the adaptive need, a cap, an unmet drain target, no room, the fleet.
    func growReasons(_ q: QueueSnapshot, outcome: ReconcilePlan.QueueOutcome, wanted: Int, starting n: Int,
                     fleet: FleetContext?) -> [ScaleDecision.Reason] {
        var reasons: [ScaleDecision.Reason] = []
        if let a = q.adaptive { reasons.append(.adaptive(note: a.note)) }
        if let limit = outcome.target.limitedBy { reasons.append(.limit(limit)) }
        if let a = q.adaptive, outcome.target.allotted < a.workers {
            let eta = a.drainSeconds(pending: q.pending, workers: outcome.target.allotted).map { AdaptivePolicy.Need.clock($0) } ?? "never (arrivals outpace it)"
            reasons.append(.drainUnmet(workers: outcome.target.allotted, wanted: a.workers, eta: eta))
        }
        if n < wanted { reasons.append(.waitingForSlots(wanted - n, maxTotal: policy.maxTotal)) }
        if let note = fleetNote(fleet, outcome) { reasons.append(note) }
        return reasons
    }

    /// Why a `[REDUZIR]`: the adaptive need, the total cap, a pause (then nothing else), the fleet.
    func shrinkReasons(_ q: QueueSnapshot, outcome: ReconcilePlan.QueueOutcome, fleet: FleetContext?) -> [ScaleDecision.Reason] {
        var reasons: [ScaleDecision.Reason] = []
        if let a = q.adaptive, !q.isPaused { reasons.append(.adaptive(note: a.note)) }
        if let limit = outcome.target.limitedBy, case .maxTotal = limit { reasons.append(.limit(limit)) }
        if q.isPaused { reasons.append(.paused) }
        if !q.isPaused, let note = fleetNote(fleet, outcome) { reasons.append(note) }
        return reasons
    }

    /// With more than one live host, the end of an `[ESCALAR]`/`[REDUZIR]` line: the fleet's target and this host's share.
    func fleetNote(_ fleet: FleetContext?, _ outcome: ReconcilePlan.QueueOutcome) -> ScaleDecision.Reason? {
        guard let fleet, fleet.hosts.count > 1, let total = outcome.fleetTarget else { return nil }
        return .fleet(target: total, hosts: fleet.hosts.count, share: outcome.target.allotted, host: fleet.me)
    }
}

/// What the plan needs to know of the fleet (several orchestrators on one prefix): values only.
public struct FleetContext: Sendable, Equatable {
    /// This host's id.
    public var me: String
    /// Every live host (this one included) with its capacity.
    public var hosts: [FleetHost]
    /// This host's `--host-max-workers`.
    public var capacity: Int
    /// Slot leases held now, all hosts together: per queue, and in all.
    public var leasedPerQueue: [String: Int]
    public var leased: Int

    public init(me: String, hosts: [FleetHost], capacity: Int, leasedPerQueue: [String: Int], leased: Int) {
        self.me = me
        self.hosts = hosts
        self.capacity = capacity
        self.leasedPerQueue = leasedPerQueue
        self.leased = leased
    }

    /// This host's part of each fleet target (demand and allotted split alike, so "below the
    /// demand" still means "a cap takes it", and the scale-down delay still applies to load).
    func shares(of targets: [String: QueueTarget]) -> [String: QueueTarget] {
        let allotted = FleetShare.split(targets.mapValues(\.allotted), over: hosts)[me] ?? [:]
        let demand = FleetShare.split(targets.mapValues(\.demand), over: hosts)[me] ?? [:]
        var result: [String: QueueTarget] = [:]
        for (q, t) in targets {
            result[q] = QueueTarget(demand: max(demand[q] ?? 0, allotted[q] ?? 0), allotted: allotted[q] ?? 0, limitedBy: t.limitedBy)
        }
        return result
    }
}
