import Foundation

extension Supervisor {
    /// `orchestrator:<prefix>instance`: who runs, and each queue's numbers, for `status`.
    func writeInstanceHeartbeat() {
        guard leases.isLeader else { return }
        let several = leases.view.hosts.count > 1
        let leased = leases.view.perQueue
        var fields: [(String, String)] = [
            ("pid", "\(pid)"), ("host", host), ("started_at", "\(startedAtMilliseconds)"),
            ("state", isDraining ? "draining" : "running"), ("queues", settings.queues.joined(separator: ",")),
            ("max_total", "\(settings.policy.maxTotal)"), ("updated_at", "\(WallClock.nowMilliseconds())"),
            ("host_id", settings.fleet.hostID), ("hosts", "\(max(1, leases.view.hosts.count))"),
            ("job_timeout_ms", "\(settings.job.jobTimeout.milliseconds)"), ("max_worker_rss_mb", "\(settings.job.maxWorkerRSSMB)"),
        ]
        for q in settings.queues {
            fields.append(("target:\(q)", "\(several ? state(of: q).fleetTarget ?? state(of: q).target.allotted : state(of: q).target.allotted)"))
            fields.append(("workers:\(q)", "\(several ? leased[q] ?? 0 : workers.values.filter { $0.queue == q }.count)"))
            if let limit = state(of: q).target.limitedBy, state(of: q).pending > 0 {
                switch limit {
                case .maxPerQueue(let wanted, _): fields.append(("limit:\(q)", "max_per_queue:\(wanted)"))
                case .maxTotal(let wanted, _): fields.append(("limit:\(q)", "max_total:\(wanted)"))
                }
            }
            let rates = history.jobsPerMinute(q, done: doneTotal(q))
            for (name, v) in [("jpm1", rates?.one), ("jpm5", rates?.five), ("jpm15", rates?.fifteen)] {
                if let v { fields.append(("\(name):\(q)", String(format: "%.2f", v))) }
            }
            if let per = rates?.five ?? rates?.one, per > 0 { fields.append(("eta:\(q)", String(Double(state(of: q).pending) / per * 60))) }
            if let need = state(of: q).need {
                fields.append(("rate:\(q)", String(need.serviceRate)))
                fields.append(("arrival:\(q)", String(need.arrivalRate)))
                if let eta = need.drainSeconds(pending: state(of: q).pending, workers: state(of: q).target.allotted) { fields.append(("drain:\(q)", String(eta))) }
            }
        }
        var commands = Heartbeat.commands(key: QueueKeys.instance(prefix: settings.job.prefix), fields: fields, replace: true)
        if settings.adaptive != nil {
            var hset: [RedisArg] = ["HSET", RedisArg(QueueKeys.rates(prefix: settings.job.prefix))]
            for q in settings.queues { hset += [RedisArg(q), RedisArg(state(of: q).rates.encoded)] }
            commands.append(hset)
        }
        pipelineReporting(commands, skipped: "not written; `status` reads the workers' heartbeats instead")
    }
}
