import Foundation

/// `orchestrator:<prefix>instance`: the running orchestrator's hash (the fleet's leader writes
/// it every poll, TTL `Heartbeat.ttl`): who runs, and each queue's target, workers, rates and
/// limit. Written by the Supervisor, read by `status` and the dashboard. The field names live
/// here only.
public struct InstanceRecord: Sendable, Equatable {
    public enum State: String, Sendable { case running, draining }

    /// One queue's published figures (fields `<name>:<queue>`).
    public struct QueueFigures: Sendable, Equatable {
        /// Workers wanted (over all hosts in a fleet).
        public var target = 0
        public var workers = 0
        /// The cap that binds (`max_per_queue` or `max_total`) and the workers wanted without it.
        public var limit: (kind: String, wanted: Int)?
        /// Jobs completed per minute over the last 1, 5 and 15 minutes (written with 2 decimals).
        public var jobsPerMinute: [Double?] = [nil, nil, nil]
        /// Seconds to empty the backlog at the measured rate.
        public var etaSeconds: Double?
        /// `--scaling adaptive`: jobs/s one worker serves, jobs/s arriving, seconds to drain.
        public var serviceRate: Double?, arrivalRate: Double?, drainSeconds: Double?

        public init() {}

        public static func == (a: Self, b: Self) -> Bool {
            a.target == b.target && a.workers == b.workers && a.limit?.kind == b.limit?.kind && a.limit?.wanted == b.limit?.wanted
                && a.jobsPerMinute == b.jobsPerMinute && a.etaSeconds == b.etaSeconds && a.serviceRate == b.serviceRate
                && a.arrivalRate == b.arrivalRate && a.drainSeconds == b.drainSeconds
        }
    }

    /// Names of the hash's fields (per-queue ones are `<name>:<queue>`).
    enum Field: String {
        case pid, host, startedAt = "started_at", state, queues, maxTotal = "max_total", updatedAt = "updated_at"
        case hostID = "host_id", hosts, jobTimeoutMilliseconds = "job_timeout_ms", maxWorkerRSSMB = "max_worker_rss_mb"
        case target, workers, limit, jpm1, jpm5, jpm15, eta, rate, arrival, drain
        func of(_ queue: String) -> String { "\(rawValue):\(queue)" }
    }

    public var pid: Int?
    public var host: String?
    public var startedAt: Int64 = 0
    /// Nil: a state this version does not know.
    public var state: State?
    public var queues: [String]?
    public var maxTotal: Int?
    public var updatedAt: Int64 = 0
    /// The leader's `--host-id`.
    public var hostID: String?
    public var hosts = 1
    public var jobTimeoutMilliseconds: Int64?
    public var maxWorkerRSSMB: Int?
    public var perQueue: [String: QueueFigures] = [:]

    public init() {}

    /// The hash's fields, for HSET (queues in `queues` order).
    public var fields: [(String, String)] {
        let top: [(Field, String?)] = [
            (.pid, pid.map { "\($0)" }), (.host, host), (.startedAt, "\(startedAt)"), (.state, state?.rawValue),
            (.queues, queues?.joined(separator: ",")), (.maxTotal, maxTotal.map { "\($0)" }), (.updatedAt, "\(updatedAt)"),
            (.hostID, hostID), (.hosts, "\(hosts)"), (.jobTimeoutMilliseconds, jobTimeoutMilliseconds.map { "\($0)" }),
            (.maxWorkerRSSMB, maxWorkerRSSMB.map { "\($0)" }),
        ]
        var named = top.compactMap { f, v in v.map { (f.rawValue, $0) } }
        for q in queues ?? [] { named += Self.fields(of: perQueue[q] ?? QueueFigures(), queue: q) }
        return named
    }

    static func fields(of f: QueueFigures, queue q: String) -> [(String, String)] {
        var out = [(Field.target.of(q), "\(f.target)"), (Field.workers.of(q), "\(f.workers)")]
        if let limit = f.limit { out.append((Field.limit.of(q), "\(limit.kind):\(limit.wanted)")) }
        for (name, v) in zip([Field.jpm1, .jpm5, .jpm15], f.jobsPerMinute) {
            if let v { out.append((name.of(q), String(format: "%.2f", v))) }
        }
        for (name, v) in [(Field.eta, f.etaSeconds), (.rate, f.serviceRate), (.arrival, f.arrivalRate), (.drain, f.drainSeconds)] {
            if let v { out.append((name.of(q), String(v))) }
        }
        return out
    }

    /// Decodes the hash as HGETALL returns it (nil when empty: no orchestrator runs).
    public init?(fields f: [String: String]) {
        guard !f.isEmpty else { return nil }
        func text(_ k: Field) -> String? { f[k.rawValue] }
        pid = text(.pid).flatMap { Int($0) }
        host = text(.host)
        startedAt = text(.startedAt).flatMap { Int64($0) } ?? 0
        state = text(.state).flatMap(State.init(rawValue:))
        queues = text(.queues).map { $0.split(separator: ",").map(String.init) }
        maxTotal = text(.maxTotal).flatMap { Int($0) }
        updatedAt = text(.updatedAt).flatMap { Int64($0) } ?? 0
        hostID = text(.hostID)
        hosts = text(.hosts).flatMap { Int($0) } ?? 1
        jobTimeoutMilliseconds = text(.jobTimeoutMilliseconds).flatMap { Int64($0) }
        maxWorkerRSSMB = text(.maxWorkerRSSMB).flatMap { Int($0) }
        for q in Self.queueNames(in: f) { perQueue[q] = Self.figures(q, f) }
    }

    /// Every queue some per-queue field names.
    static func queueNames(in f: [String: String]) -> Set<String> {
        Set(f.keys.compactMap { key in key.firstIndex(of: ":").map { String(key[key.index(after: $0)...]) } })
    }

    static func figures(_ q: String, _ f: [String: String]) -> QueueFigures {
        func number(_ k: Field) -> Double? { f[k.of(q)].flatMap { Double($0) } }
        var out = QueueFigures()
        out.target = f[Field.target.of(q)].flatMap { Int($0) } ?? 0
        out.workers = f[Field.workers.of(q)].flatMap { Int($0) } ?? 0
        if let limit = f[Field.limit.of(q)]?.split(separator: ":"), limit.count == 2, let wanted = Int(limit[1]) {
            out.limit = (String(limit[0]), wanted)
        }
        out.jobsPerMinute = [Field.jpm1, .jpm5, .jpm15].map(number)
        out.etaSeconds = number(.eta)
        out.serviceRate = number(.rate)
        out.arrivalRate = number(.arrival)
        out.drainSeconds = number(.drain)
        return out
    }
}

extension InstanceRecord {
    /// Who runs, and each queue's numbers, for `status`: built from the Supervisor's values
    /// (its settings and identity, the fleet's view, each queue's state, its workers, and each
    /// queue's jobs per minute from the history).
    init(settings: OrchestratorSettings, pid: Int32, host: String, startedAt: Int64, isDraining: Bool, fleet: FleetView,
         states: [String: SupervisedQueue], workers: [SupervisedWorker],
         jobsPerMinute: (String) -> (one: Double?, five: Double?, fifteen: Double?)?) {
        self.init()
        self.pid = Int(pid)
        self.host = host
        self.startedAt = startedAt
        state = isDraining ? .draining : .running
        queues = settings.queues
        maxTotal = settings.policy.maxTotal
        updatedAt = WallClock.nowMilliseconds()
        hostID = settings.fleet.hostID
        hosts = max(1, fleet.hosts.count)
        jobTimeoutMilliseconds = settings.job.jobTimeout.milliseconds
        maxWorkerRSSMB = settings.job.maxWorkerRSSMB
        for q in settings.queues {
            let ours = workers.filter { $0.queue == q }.count
            perQueue[q] = Self.figures(states[q] ?? SupervisedQueue(), several: fleet.hosts.count > 1, fleetWorkers: fleet.perQueue[q] ?? 0,
                                       ourWorkers: ours, jobsPerMinute: jobsPerMinute(q))
        }
    }

    static func figures(_ s: SupervisedQueue, several: Bool, fleetWorkers: Int, ourWorkers: Int,
                        jobsPerMinute rates: (one: Double?, five: Double?, fifteen: Double?)?) -> QueueFigures {
        var f = QueueFigures()
        f.target = several ? s.fleetTarget ?? s.target.allotted : s.target.allotted
        f.workers = several ? fleetWorkers : ourWorkers
        if let limit = s.target.limitedBy, s.pending > 0 {
            switch limit {
            case .maxPerQueue(let wanted, _): f.limit = ("max_per_queue", wanted)
            case .maxTotal(let wanted, _): f.limit = ("max_total", wanted)
            }
        }
        f.jobsPerMinute = [rates?.one, rates?.five, rates?.fifteen]
        if let per = rates?.five ?? rates?.one, per > 0 { f.etaSeconds = Double(s.pending) / per * 60 }
        if let need = s.need {
            f.serviceRate = need.serviceRate
            f.arrivalRate = need.arrivalRate
            f.drainSeconds = need.drainSeconds(pending: s.pending, workers: s.target.allotted)
        }
        return f
    }

    /// The commands writing the record (TTL `Heartbeat.ttl`), with the measured rates
    /// (`--scaling adaptive`) so a restart is not cold.
    func commands(settings: OrchestratorSettings, states: [String: SupervisedQueue]) -> [[RedisArg]] {
        var commands = Heartbeat.commands(key: QueueKeys.instance(prefix: settings.job.prefix), fields: fields, replace: true)
        if settings.adaptive != nil {
            var hset: [RedisArg] = ["HSET", RedisArg(QueueKeys.rates(prefix: settings.job.prefix))]
            for q in settings.queues { hset += [RedisArg(q), RedisArg((states[q] ?? SupervisedQueue()).rates.encoded)] }
            commands.append(hset)
        }
        return commands
    }
}
