import Foundation

extension Supervisor {
    /// Renders the Prometheus text for `/metrics` (no-op without `--metrics-listen`). Every series
    /// exists from the first poll (counters at 0), so rate() and alerts work before the first event.
    func publishMetrics() {
        guard let metrics else { return }
        var m = MetricsText()
        addQueueMetrics(&m)
        addWorkerMetrics(&m)
        addJobMetrics(&m)
        addOrchestratorMetrics(&m)
        ProcessMetrics.add(to: &m)
        metrics.update(text: m.text, healthy: redisReadable && !isDraining)
    }

    /// The build and each queue: length, target, wanted, backlogs, readable, paused.
    private func addQueueMetrics(_ m: inout MetricsText) {
        let qs = settings.queues
        let perQueue = { (value: (String) -> Double) in qs.map { ([("queue", $0)], value($0)) } }
        m.add("rpa_build_info", "gauge", "The running version.", [([("version", Version.string)], 1)])
        m.add("rpa_queue_pending", "gauge", "Jobs waiting in the queue (LLEN), as of the last poll.", perQueue { Double(self.state(of: $0).pending) })
        m.add("rpa_queue_target", "gauge", "Workers the scaling policy wants for the queue.", perQueue { Double(self.state(of: $0).target.allotted) })
        m.add("rpa_queue_wanted", "gauge", "Workers the queue would get without --max-per-queue and --max-total (ceil(pending / --jobs-per-worker)).",
              perQueue { Double(self.settings.policy.rawNeed(pending: self.state(of: $0).pending)) })
        m.add("rpa_queue_retrying", "gauge", "Failed jobs waiting for their --retry-delay.", perQueue { Double(self.lastReading.retrying[$0] ?? 0) })
        m.add("rpa_queue_dead", "gauge", "Jobs in the dead-letter list now.", perQueue { Double(self.lastReading.deadNow[$0] ?? 0) })
        m.add("rpa_queue_readable", "gauge", "0 while the queue's key cannot be read (a key of the wrong type: its workers are held), else 1.",
              perQueue { self.state(of: $0).unreadable == nil ? 1 : 0 })
        m.add("rpa_queue_paused", "gauge", "1 while the queue is paused (orchestrator pause).", perQueue { self.state(of: $0).isPaused ? 1 : 0 })
    }

    /// Workers by state, jobs in flight and their age, memory, starts and exits.
    private func addWorkerMetrics(_ m: inout MetricsText) {
        let qs = settings.queues
        let perQueue = { (value: (String) -> Double) in qs.map { ([("queue", $0)], value($0)) } }
        m.add("rpa_workers", "gauge", "Worker processes by queue and state.", workerStates())
        m.add("rpa_jobs_in_flight", "gauge", "Jobs running now in this orchestrator's workers.",
              perQueue { q in Double(self.workers.values.filter { $0.queue == q && $0.isBusy }.count) })
        let now = WallClock.nowMilliseconds()
        m.add("rpa_oldest_job_age_seconds", "gauge", "Age of the oldest running job in this orchestrator's workers (0 when none).",
              perQueue { q in Double(self.workers.values.filter { $0.queue == q && $0.isBusy }.compactMap(\.jobStartedAt).map { now - $0 }.max() ?? 0) / 1000 })
        m.add("rpa_worker_pss_bytes", "gauge", "Proportional memory (PSS) of each worker's process tree, handler and browser included.",
              workers.values.sorted { ($0.queue, $0.slot) < ($1.queue, $1.slot) }.map { ([("queue", $0.queue), ("slot", "\($0.slot)")], Double($0.pssBytes)) })
        m.add("rpa_worker_starts_total", "counter", "Workers started by this orchestrator.", perQueue { Double(self.workerStarts[$0] ?? 0) })
        let kinds = ["drained", "recycled", "stopped", "crashed", "killed", "lease_lost"]
        m.add("rpa_worker_exits_total", "counter", "Worker exits by kind (drained, recycled, stopped, crashed, killed, lease_lost).",
              qs.flatMap { q in kinds.map { ([("queue", q), ("kind", $0)], Double(workerExits[q]?[$0] ?? 0)) } })
    }

    /// Job counters and durations (all workers, from Redis), and the adaptive rates.
    private func addJobMetrics(_ m: inout MetricsText) {
        let qs = settings.queues
        let perQueue = { (value: (String) -> Double) in qs.map { ([("queue", $0)], value($0)) } }
        let stats = { (q: String, field: String) in Double(self.lastReading.stats[q]?[field].flatMap(Int.init) ?? 0) }
        m.add("rpa_jobs_done_total", "counter", "Jobs completed ok (all workers, from Redis).", perQueue { stats($0, "done") })
        m.add("rpa_job_attempts_failed_total", "counter", "Attempts that failed (all workers, from Redis).", perQueue { stats($0, "failed") })
        m.add("rpa_jobs_failed_total", "counter", "Deprecated name of rpa_job_attempts_failed_total (it counts attempts).", perQueue { stats($0, "failed") })
        m.add("rpa_jobs_dead_total", "counter", "Jobs moved to the dead-letter list (all workers, from Redis).", perQueue { stats($0, "dead") })
        m.addHistogram("rpa_job_duration_seconds", "Time from a job's start to its result (all workers, from Redis).", qs.map { q in
            let h = JobDuration.histogram(lastReading.stats[q] ?? [:])
            return ([("queue", q)], h.buckets, h.count, h.sum)
        })
        if settings.adaptive != nil {
            let needs = qs.compactMap { q in state(of: q).need.map { (q, $0) } }
            m.add("rpa_queue_service_rate_per_worker", "gauge", "--scaling adaptive: measured jobs per second of one busy worker.",
                  needs.map { ([("queue", $0.0)], $0.1.serviceRate) })
            m.add("rpa_queue_arrival_rate", "gauge", "--scaling adaptive: measured jobs per second arriving.", needs.map { ([("queue", $0.0)], $0.1.arrivalRate) })
            m.add("rpa_queue_predicted_drain_seconds", "gauge", "--scaling adaptive: time to drain the backlog with the current target.",
                  needs.compactMap { q, n in n.drainSeconds(pending: state(of: q).pending, workers: state(of: q).target.allotted).map { ([("queue", q)], $0) } })
        }
    }

    /// Alerts, jobs/min, limits, Redis, drain and the poll time.
    private func addOrchestratorMetrics(_ m: inout MetricsText) {
        let qs = settings.queues
        let active = Set(alerts.engine.active.map { "\($0.rule.rawValue):\($0.queue)" })
        m.add("rpa_alert_active", "gauge", "1 while the alert is active (orchestrator alerts).",
              AlertRule.allCases.flatMap { rule in (rule == .redisDown ? [""] : qs).map { q in
                  ([("rule", rule.rawValue), ("queue", q)], active.contains("\(rule.rawValue):\(q)") ? 1 : 0) } })
        var perMinute: [([(String, String)], Double)] = []
        for q in qs {
            let r = history.jobsPerMinute(q, done: doneTotal(q))
            for (window, v) in [("1m", r?.one), ("5m", r?.five), ("15m", r?.fifteen)] { if let v { perMinute.append(([("queue", q), ("window", window)], v)) } }
        }
        m.add("rpa_jobs_per_minute", "gauge", "Jobs completed per minute over the last 1, 5 and 15 minutes (once measured).", perMinute)
        m.add("rpa_job_timeout_seconds", "gauge", "--job-timeout.", [([], settings.job.jobTimeout.seconds)])
        m.add("rpa_worker_memory_limit_bytes", "gauge", "--max-worker-rss-mb in bytes (0 = off).", [([], Double(settings.job.maxWorkerRSSMB) * 1_048_576)])
        m.add("rpa_redis_up", "gauge", "1 when the last poll read Redis.", [([], redisReadable ? 1 : 0)])
        m.add("rpa_orchestrator_draining", "gauge", "1 while draining after TERM/INT.", [([], isDraining ? 1 : 0)])
        m.addHistogram("rpa_orchestrator_poll_seconds", "Wall time of each poll pass (Redis round trips included).",
                       [([], pollTime.buckets, pollTime.count, pollTime.sum)])
    }

    private func workerStates() -> [([(String, String)], Double)] {
        var byState: [([(String, String)], Double)] = []
        for q in settings.queues {
            let mine = workers.values.filter { $0.queue == q }
            let draining = mine.filter { $0.lifecycle.isDraining }.count
            let busy = mine.filter { !$0.lifecycle.isDraining && $0.isBusy }.count
            let starting = mine.filter { $0.lifecycle.state == .launching }.count
            byState += [([("queue", q), ("state", "busy")], Double(busy)),
                        ([("queue", q), ("state", "idle")], Double(mine.count - draining - busy - starting)),
                        ([("queue", q), ("state", "starting")], Double(starting)),
                        ([("queue", q), ("state", "draining")], Double(draining))]
        }
        return byState
    }
}

/// The standard `process_*` metrics of this process, from /proc.
enum ProcessMetrics {
    static func add(to m: inout MetricsText) {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let page = Double(sysconf(Int32(_SC_PAGESIZE)))
        if let stat = ProcessTree.readSmallFile("/proc/self/stat"), let close = stat.lastIndex(of: UInt8(ascii: ")")) {
            let f = stat[(close + 1)...].split(separator: UInt8(ascii: " ")).map { String(decoding: $0, as: UTF8.self) }
            // f[11] utime, f[12] stime, f[19] starttime (ticks since boot), f[20] vsize, f[21] rss (pages)
            if f.count > 21 {
                m.add("process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.",
                      [([], ((Double(f[11]) ?? 0) + (Double(f[12]) ?? 0)) / ticks)])
                m.add("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", [([], Double(f[20]) ?? 0)])
                m.add("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", [([], (Double(f[21]) ?? 0) * page)])
                m.add("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
                      [([], bootTime() + (Double(f[19]) ?? 0) / ticks)])
            }
        }
        m.add("process_open_fds", "gauge", "Number of open file descriptors.", [([], Double(ProcessTree.directoryEntries("/proc/self/fd").count))])
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        m.add("process_max_fds", "gauge", "Maximum number of open file descriptors.", [([], Double(limit.rlim_cur))])
    }

    static func bootTime() -> Double {
        let text = String(decoding: ProcessTree.readSmallFile("/proc/stat", limit: 65536) ?? [], as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") { return Double(line.dropFirst(6)) ?? 0 }
        return 0
    }
}

extension WorkerLifecycle.ExitKind {
    /// The `kind` label of `rpa_worker_exits_total`.
    var metricName: String {
        switch self {
        case .drained: return "drained"
        case .recycled: return "recycled"
        case .stoppedOnItsOwn: return "stopped"
        case .crashed: return "crashed"
        case .killed: return "killed"
        case .leaseLost: return "lease_lost"
        }
    }
}
