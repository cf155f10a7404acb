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
        let instance = InstanceRecord(fields: try read(QueueKeys.instance(prefix: prefix), "HGETALL").fields)
        report.instance = instance
        report.hosts = try collectHosts(redis: redis, prefix: prefix)
        let alerts = try read(QueueKeys.alerts(prefix: prefix), "HGETALL").fields
        report.alerts = alerts.keys.sorted().compactMap { alerts[$0] }
        let now = WallClock.nowMilliseconds()
        let paused = Set((try read(QueueKeys.paused(prefix: prefix), "SMEMBERS").array ?? []).compactMap(\.text))
        for key in try redis.scan(match: QueueKeys.heartbeatPattern(prefix: prefix)).sorted() {
            guard let beat = WorkerHeartbeat(fields: try read(key, "HGETALL").fields) else { continue }
            report.workers.append(WorkerRow(beat, now: now))
        }
        report.workers.sort { ($0.queue, $0.slot, $0.pid) < ($1.queue, $1.slot, $1.pid) }
        let working = Array(Set(report.workers.map(\.queue))).sorted()
        let names = requested ?? instance?.queues ?? (working.isEmpty ? fallback : working)
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
    static func queueRow(_ name: String, redis: any RedisClient, prefix: String, instance: InstanceRecord?) throws(RedisError) -> QueueRow {
        let keys = QueueKeys(prefix: prefix, queue: name)
        var row = QueueRow(name: name)
        if let figures = instance?.perQueue[name] {
            row.target = figures.target
            row.serviceRate = figures.serviceRate
            row.jobsPerMinute = figures.jobsPerMinute
            row.etaSeconds = figures.etaSeconds
            row.arrivalRate = figures.arrivalRate
            row.drainSeconds = figures.drainSeconds
            row.limitedBy = figures.limit?.kind
            row.wanted = figures.limit?.wanted
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
            let stats = QueueStats(fields: try redis.send(["HGETALL", RedisArg(key)]).fields)
            row.done = stats.done
            row.failed = stats.failed
            row.deadTotal = stats.dead
            key = keys.dead
            row.dead = try redis.send(["LLEN", RedisArg(key)]).int ?? 0
        } catch {
            guard case .server(let message) = error, !error.isTransient else { throw error }
            row.unreadable = Unreadable(key: key, reason: message)
        }
        return row
    }
}

extension StatusReport.WorkerRow {
    /// A worker's row from its heartbeat, its job's age as of `now` (wall-clock ms).
    init(_ beat: WorkerHeartbeat, now: Int64) {
        self.init(pid: Int(beat.pid), queue: beat.queue, slot: beat.slot, state: beat.state.rawValue,
                  jobAgeSeconds: beat.jobStartedAt.map { Double(now - $0) / 1000 }, jobsDone: beat.jobsDone,
                  rssBytes: beat.memory.rssBytes, pssBytes: beat.memory.pssBytes, processes: beat.memory.processes,
                  host: beat.host, id: beat.worker, startedAt: beat.startedAt)
    }
}
