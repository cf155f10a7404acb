import Foundation

/// Builds the `/metrics` text. It owns the series only the orchestrator's loop sees (workers
/// started and exited, poll pass times); everything else comes in as values (`Values`), so the
/// text is a pure function of them. Every series exists from the first poll (counters at 0), so
/// rate() and alerts work before the first event.
struct MetricsPublisher {
    /// One queue as `/metrics` shows it.
    struct QueueValues {
        var pending = 0
        var target = 0
        /// Workers without --max-per-queue and --max-total.
        var wanted = 0
        var retrying = 0
        var dead = 0
        var isReadable = true
        var isPaused = false
        var need: AdaptivePolicy.Need?
        /// The queue's stats hash (done, failed, dead, durations).
        var stats: [String: String] = [:]
        var jobsPerMinute: (one: Double?, five: Double?, fifteen: Double?)?
    }

    /// One worker as `/metrics` shows it.
    struct WorkerValues {
        var queue: String
        var slot: Int
        var isBusy = false
        var isDraining = false
        var isStarting = false
        var jobStartedAt: Int64?
        var pssBytes = 0
    }

    struct Values {
        var queues: [(name: String, values: QueueValues)] = []
        var workers: [WorkerValues] = []
        var isAdaptive = false
        /// `"<rule>:<queue>"` of each active alert (`redis_down` has an empty queue).
        var activeAlerts: Set<String> = []
        var jobTimeoutSeconds = 0.0
        var memoryLimitBytes = 0.0
        var redisUp = false
        var isDraining = false
        var nowMilliseconds: Int64 = 0
    }

    private(set) var workerStarts: [String: Int] = [:]
    private(set) var workerExits: [String: [String: Int]] = [:]
    /// Wall time spent in each poll pass (Redis round trips included).
    private(set) var pollTime = PollTimeHistogram()

    mutating func started(queue: String) { workerStarts[queue, default: 0] += 1 }
    mutating func exited(queue: String, kind: WorkerLifecycle.ExitKind) { workerExits[queue, default: [:]][kind.metricName, default: 0] += 1 }
    mutating func observePoll(seconds: Double) { pollTime.observe(seconds) }

    /// The Prometheus text of `v` and our counters (the `process_*` metrics are added by the caller).
    func text(_ v: Values, processMetrics: (inout MetricsText) -> Void = { _ in }) -> String {
        var m = MetricsText()
        addQueueMetrics(&m, v)
        addWorkerMetrics(&m, v)
        addJobMetrics(&m, v)
        addOrchestratorMetrics(&m, v)
        processMetrics(&m)
        return m.text
    }

    private func perQueue(_ v: Values, _ value: (QueueValues) -> Double) -> [([(String, String)], Double)] {
        v.queues.map { ([("queue", $0.name)], value($0.values)) }
    }

    /// The build and each queue: length, target, wanted, backlogs, readable, paused.
    private func addQueueMetrics(_ m: inout MetricsText, _ v: Values) {
        m.add("rpa_build_info", "gauge", "The running version.", [([("version", Version.string)], 1)])
        m.add("rpa_queue_pending", "gauge", "Jobs waiting in the queue (LLEN), as of the last poll.", perQueue(v) { Double($0.pending) })
        m.add("rpa_queue_target", "gauge", "Workers the scaling policy wants for the queue.", perQueue(v) { Double($0.target) })
        m.add("rpa_queue_wanted", "gauge", "Workers the queue would get without --max-per-queue and --max-total (ceil(pending / --jobs-per-worker)).",
              perQueue(v) { Double($0.wanted) })
        m.add("rpa_queue_retrying", "gauge", "Failed jobs waiting for their --retry-delay.", perQueue(v) { Double($0.retrying) })
        m.add("rpa_queue_dead", "gauge", "Jobs in the dead-letter list now.", perQueue(v) { Double($0.dead) })
        m.add("rpa_queue_readable", "gauge", "0 while the queue's key cannot be read (a key of the wrong type: its workers are held), else 1.",
              perQueue(v) { $0.isReadable ? 1 : 0 })
        m.add("rpa_queue_paused", "gauge", "1 while the queue is paused (orchestrator pause).", perQueue(v) { $0.isPaused ? 1 : 0 })
    }

    /// Workers by state, jobs in flight and their age, memory, starts and exits.
    private func addWorkerMetrics(_ m: inout MetricsText, _ v: Values) {
        let busy = { (q: String) in v.workers.filter { $0.queue == q && $0.isBusy } }
        m.add("rpa_workers", "gauge", "Worker processes by queue and state.", workerStates(v))
        m.add("rpa_jobs_in_flight", "gauge", "Jobs running now in this orchestrator's workers.",
              v.queues.map { ([("queue", $0.name)], Double(busy($0.name).count)) })
        m.add("rpa_oldest_job_age_seconds", "gauge", "Age of the oldest running job in this orchestrator's workers (0 when none).",
              v.queues.map { ([("queue", $0.name)], Double(busy($0.name).compactMap(\.jobStartedAt).map { v.nowMilliseconds - $0 }.max() ?? 0) / 1000) })
        m.add("rpa_worker_pss_bytes", "gauge", "Proportional memory (PSS) of each worker's process tree, handler and browser included.",
              v.workers.sorted { ($0.queue, $0.slot) < ($1.queue, $1.slot) }.map { ([("queue", $0.queue), ("slot", "\($0.slot)")], Double($0.pssBytes)) })
        m.add("rpa_worker_starts_total", "counter", "Workers started by this orchestrator.",
              v.queues.map { ([("queue", $0.name)], Double(workerStarts[$0.name] ?? 0)) })
        let kinds = ["drained", "recycled", "stopped", "crashed", "killed", "lease_lost"]
        m.add("rpa_worker_exits_total", "counter", "Worker exits by kind (drained, recycled, stopped, crashed, killed, lease_lost).",
              v.queues.flatMap { q in kinds.map { ([("queue", q.name), ("kind", $0)], Double(workerExits[q.name]?[$0] ?? 0)) } })
    }

    /// Job counters and durations (all workers, from Redis), and the adaptive rates.
    private func addJobMetrics(_ m: inout MetricsText, _ v: Values) {
        let stats = { (q: QueueValues, count: (QueueStats) -> Int) in Double(count(QueueStats(fields: q.stats))) }
        m.add("rpa_jobs_done_total", "counter", "Jobs completed ok (all workers, from Redis).", perQueue(v) { stats($0, \.done) })
        m.add("rpa_job_attempts_failed_total", "counter", "Attempts that failed (all workers, from Redis).", perQueue(v) { stats($0, \.failed) })
        m.add("rpa_jobs_failed_total", "counter", "Deprecated name of rpa_job_attempts_failed_total (it counts attempts).", perQueue(v) { stats($0, \.failed) })
        m.add("rpa_jobs_dead_total", "counter", "Jobs moved to the dead-letter list (all workers, from Redis).", perQueue(v) { stats($0, \.dead) })
        m.addHistogram("rpa_job_duration_seconds", "Time from a job's start to its result (all workers, from Redis).", v.queues.map { q in
            let h = JobDuration.histogram(q.values.stats)
            return ([("queue", q.name)], h.buckets, h.count, h.sum)
        })
        guard v.isAdaptive else { return }
        let needs = v.queues.compactMap { q in q.values.need.map { (q.name, q.values, $0) } }
        m.add("rpa_queue_service_rate_per_worker", "gauge", "--scaling adaptive: measured jobs per second of one busy worker.",
              needs.map { ([("queue", $0.0)], $0.2.serviceRate) })
        m.add("rpa_queue_arrival_rate", "gauge", "--scaling adaptive: measured jobs per second arriving.", needs.map { ([("queue", $0.0)], $0.2.arrivalRate) })
        m.add("rpa_queue_predicted_drain_seconds", "gauge", "--scaling adaptive: time to drain the backlog with the current target.",
              needs.compactMap { q, s, n in n.drainSeconds(pending: s.pending, workers: s.target).map { ([("queue", q)], $0) } })
    }

    /// Alerts, jobs/min, limits, Redis, drain and the poll time.
    private func addOrchestratorMetrics(_ m: inout MetricsText, _ v: Values) {
        m.add("rpa_alert_active", "gauge", "1 while the alert is active (orchestrator alerts).",
              AlertRule.allCases.flatMap { rule in (rule == .redisDown ? [""] : v.queues.map(\.name)).map { q in
                  ([("rule", rule.rawValue), ("queue", q)], v.activeAlerts.contains("\(rule.rawValue):\(q)") ? 1 : 0) } })
        var perMinute: [([(String, String)], Double)] = []
        for q in v.queues {
            let r = q.values.jobsPerMinute
            for (window, x) in [("1m", r?.one), ("5m", r?.five), ("15m", r?.fifteen)] { if let x { perMinute.append(([("queue", q.name), ("window", window)], x)) } }
        }
        m.add("rpa_jobs_per_minute", "gauge", "Jobs completed per minute over the last 1, 5 and 15 minutes (once measured).", perMinute)
        m.add("rpa_job_timeout_seconds", "gauge", "--job-timeout.", [([], v.jobTimeoutSeconds)])
        m.add("rpa_worker_memory_limit_bytes", "gauge", "--max-worker-rss-mb in bytes (0 = off).", [([], v.memoryLimitBytes)])
        m.add("rpa_redis_up", "gauge", "1 when the last poll read Redis.", [([], v.redisUp ? 1 : 0)])
        m.add("rpa_orchestrator_draining", "gauge", "1 while draining after TERM/INT.", [([], v.isDraining ? 1 : 0)])
        m.addHistogram("rpa_orchestrator_poll_seconds", "Wall time of each poll pass (Redis round trips included).",
                       [([], pollTime.buckets, pollTime.count, pollTime.sum)])
    }

    private func workerStates(_ v: Values) -> [([(String, String)], Double)] {
        var byState: [([(String, String)], Double)] = []
        for (q, _) in v.queues {
            let mine = v.workers.filter { $0.queue == q }
            let draining = mine.filter(\.isDraining).count
            let busy = mine.filter { !$0.isDraining && $0.isBusy }.count
            let starting = mine.filter(\.isStarting).count
            byState += [([("queue", q), ("state", "busy")], Double(busy)),
                        ([("queue", q), ("state", "idle")], Double(mine.count - draining - busy - starting)),
                        ([("queue", q), ("state", "starting")], Double(starting)),
                        ([("queue", q), ("state", "draining")], Double(draining))]
        }
        return byState
    }
}

extension MetricsPublisher.Values {
    /// One publication's values, from the Supervisor's queue states, worker table and last reading.
    init(settings: OrchestratorSettings, states: [String: SupervisedQueue], workers: [SupervisedWorker], reading: PollReading,
         jobsPerMinute: (String) -> (one: Double?, five: Double?, fifteen: Double?)?, activeAlerts: Set<String>, redisUp: Bool, isDraining: Bool) {
        self.init(isAdaptive: settings.adaptive != nil, activeAlerts: activeAlerts, jobTimeoutSeconds: settings.job.jobTimeout.seconds,
                  memoryLimitBytes: Double(settings.job.maxWorkerRSSMB) * 1_048_576, redisUp: redisUp, isDraining: isDraining,
                  nowMilliseconds: WallClock.nowMilliseconds())
        queues = settings.queues.map { q in
            (q, (states[q] ?? SupervisedQueue()).metricValues(q, policy: settings.policy, reading: reading, jobsPerMinute: jobsPerMinute(q)))
        }
        self.workers = workers.map(\.metricValues)
    }
}

/// Cumulative histogram of poll pass times, Prometheus style.
struct PollTimeHistogram {
    static let bounds: [Double] = [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]
    private var counts = [Int](repeating: 0, count: bounds.count)
    private(set) var count = 0
    private(set) var sum = 0.0
    mutating func observe(_ seconds: Double) {
        count += 1
        sum += seconds
        for (i, b) in Self.bounds.enumerated() where seconds <= b { counts[i] += 1 }
    }
    var buckets: [(String, Int)] { zip(Self.bounds, counts).map { ("\($0)", $1) } + [("+Inf", count)] }
}
