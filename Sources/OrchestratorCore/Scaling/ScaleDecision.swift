/// One queue's rebalance decision of a reconcile pass, as values. `line` renders the seed's
/// `[ESCALAR]`, `[REDUZIR]` and `[EQUILIBRIO]` lines word for word; nothing parses them back.
public struct ScaleDecision: Sendable, Equatable {
    public enum Direction: String, Sendable, Equatable {
        case up, down, steady
    }

    /// Why the numbers are what they are, appended to the line in order.
    public enum Reason: Sendable, Equatable {
        /// `--scaling adaptive`: the measured need (`(adaptive: … jobs/s/worker, drain …)`).
        case adaptive(note: String)
        /// A cap took part of the demand.
        case limit(ScalingLimit)
        /// The adaptive drain target needs more workers than the caps allow.
        case drainUnmet(workers: Int, wanted: Int, eta: String)
        /// Fewer started than wanted: no room under `--max-total`.
        case waitingForSlots(Int, maxTotal: Int)
        case paused
        /// With more than one live host: the fleet's target and this host's share.
        case fleet(target: Int, hosts: Int, share: Int, host: String)
    }

    public var queue: String
    public var direction: Direction
    public var pending: Int
    /// Active workers before and after (equal for `.steady`).
    public var from: Int
    public var to: Int
    public var reasons: [Reason]

    public init(queue: String, direction: Direction, pending: Int, from: Int, to: Int, reasons: [Reason] = []) {
        self.queue = queue
        self.direction = direction
        self.pending = pending
        self.from = from
        self.to = to
        self.reasons = reasons
    }

    /// The stable `event` of the line in JSON logs.
    public var event: String {
        switch direction {
        case .up: LogEvents.scaleUp
        case .down: LogEvents.scaleDown
        case .steady: LogEvents.scaleSteady
        }
    }

    /// The seed's line, byte for byte: the one place these lines are written.
    public var line: String {
        var line: String
        switch direction {
        case .up: line = "[ESCALAR] \(queue): \(pending) jobs → criando \(to - from) worker(s) (total: \(from) → \(to))"
        case .down: line = "[REDUZIR] \(queue): \(pending) jobs → \(from - to) worker(s) em excesso (total: \(from) → \(to))"
        case .steady: line = "[EQUILIBRIO] \(queue): \(pending) jobs → \(from) worker(s) ativo(s). Sem mudanças."
        }
        for reason in reasons { line += reason.suffix }
        return line
    }
}

extension ScaleDecision.Reason {
    /// This reason's words at the end of the line (the adaptive note after a space, the others after "; ").
    var suffix: String {
        switch self {
        case .adaptive(let note): " \(note)"
        case .limit(let limit): "; \(limit)"
        case .drainUnmet(let workers, let wanted, let eta):
            "; the drain target cannot be met under the caps (\(workers) of \(wanted) workers: drain in \(eta))"
        case .waitingForSlots(let n, let maxTotal): "; waiting for \(n) slot(s) under --max-total \(maxTotal)"
        case .paused: "; queue paused"
        case .fleet(let target, let hosts, let share, let host):
            "; fleet target \(target) on \(hosts) hosts, this host's share \(share) (\(host))"
        }
    }
}
