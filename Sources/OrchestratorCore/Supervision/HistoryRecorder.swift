import Foundation

extension Supervisor {
    func doneTotal(_ q: String) -> Int { Int(lastReading.stats[q]?["done"] ?? "") ?? 0 }

    /// Feeds each queue's minute history; writes a finished minute's sample (one pipelined round
    /// trip for all queues, trimmed to `--history-retention` by MINID).
    func recordHistory() {
        let wall = WallClock.nowMilliseconds()
        var commands: [[RedisArg]] = []
        for q in settings.queues {
            let stats = lastReading.stats[q] ?? [:]
            let mine = workers.values.filter { $0.queue == q }
            var r = QueueHistory.Reading()
            r.pending = queues[q]!.pending
            r.retrying = lastReading.retrying[q] ?? 0
            r.target = queues[q]!.target.allotted
            r.busy = mine.filter { $0.isBusy && !$0.lifecycle.isDraining }.count
            r.draining = mine.filter { $0.lifecycle.isDraining }.count
            r.idle = mine.count - r.busy - r.draining
            r.inFlight = mine.filter(\.isBusy).count
            r.done = Int(stats["done"] ?? "") ?? 0
            r.failed = Int(stats["failed"] ?? "") ?? 0
            r.dead = Int(stats["dead"] ?? "") ?? 0
            r.durations = stats.filter { $0.key.hasPrefix("dur_le_") }.compactMapValues { Int($0) }
            r.maxPSS = mine.map(\.pssBytes).max() ?? 0
            guard let fields = histories[q, default: QueueHistory()].observe(r, wallMilliseconds: wall),
                  let retention = settings.historyRetention else { continue }
            var xadd: [RedisArg] = ["XADD", RedisArg(QueueKeys.history(prefix: settings.job.prefix, queue: q)), "MINID", "~",
                                    RedisArg("\(wall - retention.milliseconds)"), "*"]
            for (k, v) in fields { xadd += [RedisArg(k), RedisArg(v)] }
            commands.append(xadd)
        }
        if !commands.isEmpty { pipelineReporting(commands, skipped: "history sample not written") }
    }
}
