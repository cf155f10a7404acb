import Foundation

extension StatusReport {
    /// Reads the instance heartbeat, every worker heartbeat and each queue's lists and counters.
    /// Queues: those `requested` (and only their workers), else those the running orchestrator
    /// watches, else those live workers work, else `fallback`.
    public static func collect(redis: any RedisClient, prefix: String, requested: [String]?, fallback: [String]) throws(RedisError) -> StatusReport {
        var report = StatusReport()
        // A key holding no job of the wrong type must not blind `status`: it reads as empty and is listed.
        func read(_ key: String, _ command: String) throws(RedisError) -> RedisReply {
            do { return try redis.send([RedisArg(command), RedisArg(key)]) } catch {
                guard case .server(let message) = error, !error.isTransient else { throw error }
                report.skippedKeys.append(Unreadable(key: key, reason: message))
                return .null
            }
        }
        let instance = try read(QueueKeys.instance(prefix: prefix), "HGETALL").fields
        report.instance = instance.isEmpty ? nil : instance
        report.hosts = try collectHosts(redis: redis, prefix: prefix)
        let alerts = try read(QueueKeys.alerts(prefix: prefix), "HGETALL").fields
        report.alerts = alerts.keys.sorted().compactMap { alerts[$0] }
        let now = WallClock.nowMilliseconds()
        let paused = Set((try read(QueueKeys.paused(prefix: prefix), "SMEMBERS").array ?? []).compactMap(\.text))
        for key in try redis.scan(match: QueueKeys.heartbeatPattern(prefix: prefix)).sorted() {
            let f = try read(key, "HGETALL").fields
            guard let pid = f["pid"].flatMap(Int.init), let queue = f["queue"] else { continue }
            let started = f["job_started_at"].flatMap(Int64.init)
            report.workers.append(WorkerRow(pid: pid, queue: queue, slot: f["slot"].flatMap(Int.init) ?? 0, state: f["state"] ?? "?",
                                            jobAgeSeconds: started.map { Double(now - $0) / 1000 },
                                            jobsDone: f["jobs_done"].flatMap(Int.init) ?? 0, rssBytes: f["rss_bytes"].flatMap(Int.init) ?? 0,
                                            pssBytes: f["pss_bytes"].flatMap(Int.init) ?? f["rss_bytes"].flatMap(Int.init) ?? 0,
                                            processes: f["processes"].flatMap(Int.init) ?? 1,
                                            host: f["host"] ?? "", id: f["worker"] ?? "", startedAt: f["started_at"].flatMap(Int64.init) ?? 0))
        }
        report.workers.sort { ($0.queue, $0.slot, $0.pid) < ($1.queue, $1.slot, $1.pid) }
        let working = Array(Set(report.workers.map(\.queue))).sorted()
        let names = requested ?? instance["queues"].map { $0.split(separator: ",").map(String.init) } ?? (working.isEmpty ? fallback : working)
        if requested != nil { report.workers = report.workers.filter { names.contains($0.queue) } }
        for name in names {
            var row = try queueRow(name, redis: redis, prefix: prefix, instance: instance)
            row.paused = paused.contains(name)
            row.busy = report.workers.filter { $0.queue == name && $0.state == WorkerState.busy.rawValue }.count
            row.draining = report.workers.filter { $0.queue == name && $0.state == WorkerState.draining.rawValue }.count
            row.idle = report.workers.filter { $0.queue == name && $0.state != WorkerState.busy.rawValue && $0.state != WorkerState.draining.rawValue }.count
            report.queues.append(row)
        }
        return report
    }

    /// One queue's lists, counters and published figures. A key of the wrong type (WRONGTYPE…)
    /// does not fail the report: the row says which key and why, and keeps what was read before it.
    static func queueRow(_ name: String, redis: any RedisClient, prefix: String, instance: [String: String]) throws(RedisError) -> QueueRow {
        let keys = QueueKeys(prefix: prefix, queue: name)
        var row = QueueRow(name: name)
        row.target = instance["target:\(name)"].flatMap(Int.init)
        row.serviceRate = instance["rate:\(name)"].flatMap(Double.init)
        row.jobsPerMinute = ["jpm1", "jpm5", "jpm15"].map { instance["\($0):\(name)"].flatMap(Double.init) }
        row.etaSeconds = instance["eta:\(name)"].flatMap(Double.init)
        row.arrivalRate = instance["arrival:\(name)"].flatMap(Double.init)
        row.drainSeconds = instance["drain:\(name)"].flatMap(Double.init)
        if let limit = instance["limit:\(name)"]?.split(separator: ":"), limit.count == 2 {
            row.limitedBy = String(limit[0])
            row.wanted = Int(limit[1])
        }
        var key = keys.pending  // the key being read, named when it cannot be
        do {
            row.pending = try redis.send(["LLEN", RedisArg(key)]).int ?? 0
            for list in try redis.scan(match: keys.processingPattern) {
                key = list
                row.inFlight += try redis.send(["LLEN", RedisArg(list)]).int ?? 0
            }
            key = keys.retry
            row.retrying = try redis.send(["ZCARD", RedisArg(key)]).int ?? 0
            key = keys.stats
            let stats = try redis.send(["HGETALL", RedisArg(key)]).fields
            row.done = stats["done"].flatMap(Int.init) ?? 0
            row.failed = stats["failed"].flatMap(Int.init) ?? 0
            row.deadTotal = stats["dead"].flatMap(Int.init) ?? 0
            key = keys.dead
            row.dead = try redis.send(["LLEN", RedisArg(key)]).int ?? 0
        } catch {
            guard case .server(let message) = error, !error.isTransient else { throw error }
            row.unreadable = Unreadable(key: key, reason: message)
        }
        return row
    }
}
