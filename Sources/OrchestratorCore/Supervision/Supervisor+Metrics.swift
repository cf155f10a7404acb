import Foundation

extension Supervisor {
    /// Renders the Prometheus text for `/metrics` (no-op without `--metrics-listen`).
    func publishMetrics() {
        guard let metrics else { return }
        var m = MetricsText()
        let qs = settings.queues
        m.add("rpa_queue_pending", "gauge", "Jobs waiting in the queue (LLEN), as of the last poll.",
              qs.map { ([("queue", $0)], Double(queues[$0]!.pending)) })
        m.add("rpa_queue_target", "gauge", "Workers the scaling policy wants for the queue.",
              qs.map { ([("queue", $0)], Double(queues[$0]!.target.allotted)) })
        var byState: [([(String, String)], Double)] = []
        for q in qs {
            let mine = workers.values.filter { $0.queue == q }
            let draining = mine.filter { $0.lifecycle.isDraining }.count
            let busy = mine.filter { !$0.lifecycle.isDraining && $0.isBusy }.count
            let starting = mine.filter { $0.lifecycle.state == .launching }.count
            byState += [([("queue", q), ("state", "busy")], Double(busy)),
                        ([("queue", q), ("state", "idle")], Double(mine.count - draining - busy - starting)),
                        ([("queue", q), ("state", "starting")], Double(starting)),
                        ([("queue", q), ("state", "draining")], Double(draining))]
        }
        m.add("rpa_workers", "gauge", "Worker processes by queue and state.", byState)
        m.add("rpa_worker_starts_total", "counter", "Workers started by this orchestrator.",
              qs.map { ([("queue", $0)], Double(workerStarts[$0] ?? 0)) })
        m.add("rpa_worker_exits_total", "counter", "Worker exits by kind (drained, recycled, stopped, crashed, killed).",
              qs.flatMap { q in (workerExits[q] ?? [:]).sorted { $0.key < $1.key }.map { ([("queue", q), ("kind", $0.key)], Double($0.value)) } })
        for (name, field, help) in [("rpa_jobs_done_total", "done", "Jobs completed (all workers, from Redis)."),
                                    ("rpa_jobs_failed_total", "failed", "Failed attempts (all workers, from Redis)."),
                                    ("rpa_jobs_dead_total", "dead", "Jobs moved to the dead-letter list (all workers, from Redis).")] {
            m.add(name, "counter", help, qs.map { ([("queue", $0)], Double(jobStats[$0]?[field].flatMap(Int.init) ?? 0)) })
        }
        m.add("rpa_queue_paused", "gauge", "1 while the queue is paused (orchestrator pause).",
              qs.map { ([("queue", $0)], queues[$0]!.isPaused ? 1 : 0) })
        m.add("rpa_redis_up", "gauge", "1 when the last poll read Redis.", [([], redisReadable ? 1 : 0)])
        m.add("rpa_orchestrator_draining", "gauge", "1 while draining after TERM/INT.", [([], isDraining ? 1 : 0)])
        metrics.update(text: m.text, healthy: redisReadable && !isDraining)
    }
}

extension WorkerLifecycle.ExitKind {
    var metricName: String {
        switch self {
        case .drained: return "drained"
        case .recycled: return "recycled"
        case .stoppedOnItsOwn: return "stopped"
        case .crashed: return "crashed"
        case .killed: return "killed"
        }
    }
}
