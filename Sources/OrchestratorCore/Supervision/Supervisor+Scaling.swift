import Foundation
import Logging

extension Supervisor {
    /// One reconcile pass: read Redis, plan (`Reconcile`, pure), apply. On a Redis read error it
    /// holds (never scales down).
    func poll() {
        retryPendingRequeues()
        killAdoptedOrphans()  // a browser re-parented to us after the last sweep, and zombies
        let wasReadable: Bool? = redisStateKnown ? redisReadable : nil
        let renewed = renewFleet()
        redisReadable = renewed && readRedis()
        redisStateKnown = true
        if redisReadable != wasReadable, wasReadable != nil || !redisReadable { events.record(redisReadable ? "redis_up" : "redis_down", []) }
        if isFleetLeader { evaluateAlerts() }
        flushEvents()
        defer { publishMetrics() }
        guard redisReadable else { return }
        let now = clock.now
        let plan = reconcile.plan(queues: settings.queues.map { snapshot(of: $0) },
                                  workers: workers.values.filter { !$0.lifecycle.isExited }.map(\.snapshot), now: now, fleet: fleetContext)
        apply(plan)
        if isFleetLeader { recordHistory() }
        writeInstanceHeartbeat()
        recoverIfDue(now: now)
    }

    /// Between polls: reads every queue's length (one pipelined round trip) and brings the poll
    /// forward when a queue grew enough to want more workers than the last poll saw (the seed's
    /// formula), so a burst is answered within about 100 ms instead of up to a poll interval.
    func peek() {
        guard settings.pollInterval > Self.peekInterval, redisReadable else { return }
        guard let replies = try? link.perform({ c throws(RedisError) in try c.pipeline(lengthCommands) }) else { return }
        for (i, q) in settings.queues.enumerated() {
            guard let n = replies[i].int, let state = queues[q], !state.isPaused, state.unreadable == nil else { continue }
            if settings.policy.rawNeed(pending: n) > settings.policy.rawNeed(pending: state.pending) {
                nextPoll = clock.now
                return
            }
        }
    }

    /// `LLEN` of every watched queue, in `settings.queues` order (the poll's read and the peek).
    var lengthCommands: [[RedisArg]] { settings.queues.map { ["LLEN", RedisArg(settings.job.prefix + $0)] } }

    func snapshot(of queue: String) -> QueueSnapshot {
        let s = queues[queue]!
        var snapshot = QueueSnapshot(name: queue, pending: s.pending, isPaused: s.isPaused, isReadable: s.unreadable == nil,
                                     backoffUntil: s.backoff.nextAllowed, lowerTargetSince: s.lowerTargetSince, lastSummary: s.lastSummary)
        snapshot.adaptive = s.need
        return snapshot
    }

    /// Performs a plan: its lines, its TERMs, its spawns, and keeps each queue's new timers.
    func apply(_ plan: ReconcilePlan) {
        for (queue, outcome) in plan.queues {
            queues[queue]!.target = outcome.target
            queues[queue]!.lowerTargetSince = outcome.lowerTargetSince
            queues[queue]!.lastSummary = outcome.lastSummary
            queues[queue]!.fleetTarget = outcome.fleetTarget
            if outcome.heldByBackoff {
                logger.debug("scale.backoff", metadata: ["queue": "\(queue)", "delay": "\(formatDuration(queues[queue]!.backoff.currentDelay))"])
            }
        }
        for line in plan.lines {
            logger.info("\(line)", metadata: RebalanceLines.event(of: line).map { ["event": "\($0)"] })
            if line.hasPrefix("[ESCALAR]") || line.hasPrefix("[REDUZIR]") {
                let queue = line.split(separator: " ", maxSplits: 2).dropFirst().first.map { String($0.dropLast()) } ?? ""
                events.record("scale", [("queue", queue), ("direction", line.hasPrefix("[ESCALAR]") ? "up" : "down"),
                                        ("pending", "\(queues[queue]?.pending ?? 0)"), ("target", "\(queues[queue]?.target.allotted ?? 0)"), ("line", line)])
            }
        }
        for action in plan.actions {
            if case .terminate(let pid, _) = action {
                guard workers[pid]?.lifecycle.drainRequested(deadline: nil) == .sendTerminate else { continue }
                logger.info("\(LogEvents.workerDraining)", metadata: ["worker": "\(workers[pid]!.label)", "pid": "\(pid)",
                                                                      "busy": "\(workers[pid]!.isBusy)"])
                launcher.signal(pid, SIGTERM)
            }
        }
        // A worker starts only under a slot lease of the fleet, and only while Redis confirms our leases.
        guard !plan.spawns.isEmpty, leaseClock.mayStartWorkers(at: clock.now) else { return }
        var failedLaunch: Set<String> = []
        for (queue, slot) in leaseSpawns(plan.spawns) {
            if failedLaunch.contains(queue) || !spawn(queue, lease: slot) {
                failedLaunch.insert(queue)
                releaseLease(slot: slot, queue: queue)
            }
        }
    }

    /// What one poll read from Redis, before anything changes.
    struct PollReading {
        /// Per queue: its length…
        var lengths: [String: Int] = [:]
        /// …or the server's error for its key (WRONGTYPE…).
        var keyErrors: [String: String] = [:]
        /// Heartbeat fields of our workers that have one.
        var heartbeats: [Int32: [String: String]] = [:]
        var paused: Set<String> = []
        /// Stats hashes, retry and dead backlogs, read only when /metrics is served.
        var stats: [String: [String: String]] = [:]
        var retrying: [String: Int] = [:]
        var deadNow: [String: Int] = [:]
    }

    /// Reads Redis into the supervisor's state: read, then absorb. False when Redis is unreadable.
    private func readRedis() -> Bool {
        let all = heartbeatReadTimer.isDue(clock.now)
        let slow = statsReadTimer.isDue(clock.now) || settings.adaptive != nil
        // Idle workers change rarely (and say so within Heartbeat.orchestratorReadPeriod); starting and busy ones every poll.
        let pids = workers.keys.filter { all || workers[$0]!.lifecycle.state == .launching || workers[$0]!.isBusy }
        guard let reading = read(heartbeatsOf: pids, stats: slow) else {
            heartbeatReadTimer.reset()
            statsReadTimer.reset()
            return false
        }
        absorb(reading)
        return true
    }

    /// Promotes due retries, then reads every queue length, our workers' heartbeats, the paused set
    /// (and stats for /metrics) in one round trip. Changes nothing; nil on a connection error.
    /// - Parameter stats: also read the stats hashes and the retry and dead backlogs (every
    ///   `statsReadPeriod`, every poll with adaptive scaling); otherwise the last ones are kept.
    ///   Due retries are promoted for every queue then, and every poll for a queue with a retry backlog.
    func read(heartbeatsOf pids: [Int32], stats: Bool) -> PollReading? {
        let prefix = settings.job.prefix
        let now = WallClock.nowMilliseconds()
        // Due retries first, so the lengths read next include them (even with no worker running).
        var commands: [[RedisArg]] = []
        let promoting = settings.queues.filter { stats || (lastReading.retrying[$0] ?? 0) > 0 }
        for q in promoting {
            let keys = QueueKeys(prefix: prefix, queue: q)
            guard let promote = try? link.perform({ c throws(RedisError) in
                try c.scriptCommand(QueueScripts.promote, keys: [keys.retry, keys.pending], args: [RedisArg(String(now)), "100"])
            }) else { return nil }
            commands.append(promote)
        }
        let lengthsStart = commands.count
        commands += lengthCommands
        let heartbeatsStart = commands.count
        for pid in pids { commands.append(["HGETALL", RedisArg(QueueKeys.heartbeat(prefix: prefix, workers[pid]!.id))]) }
        let pausedIndex = commands.count
        commands.append(["SMEMBERS", RedisArg(QueueKeys.paused(prefix: prefix))])
        let statsStart = commands.count
        if stats {  // stats and backlogs: for alerts, adaptive scaling, history and /metrics
            for q in settings.queues {
                let keys = QueueKeys(prefix: prefix, queue: q)
                commands += [["HGETALL", RedisArg(keys.stats)], ["ZCARD", RedisArg(keys.retry)], ["LLEN", RedisArg(keys.dead)]]
            }
        }
        // The queue keys themselves are reported by `queue.unreadable`; the others here hold no job.
        guard let replies = pipelineReporting(commands, skipped: "not read this poll; scaling goes on without it",
                                              exempt: lengthsStart..<heartbeatsStart) else { return nil }
        for i in promoting.indices { link.connection.forgetScript(QueueScripts.promote, ifNoScript: replies[i]) }
        var reading = PollReading()
        for (i, q) in settings.queues.enumerated() {
            if case .error(let message) = replies[lengthsStart + i] {
                reading.keyErrors[q] = message
            } else {
                reading.lengths[q] = replies[lengthsStart + i].int ?? 0
            }
        }
        for (j, pid) in pids.enumerated() where !replies[heartbeatsStart + j].fields.isEmpty {
            reading.heartbeats[pid] = replies[heartbeatsStart + j].fields
        }
        reading.paused = Set((replies[pausedIndex].array ?? []).compactMap(\.text))
        if !stats {
            reading.stats = lastReading.stats
            reading.retrying = lastReading.retrying
            reading.deadNow = lastReading.deadNow
        } else {
            for (k, q) in settings.queues.enumerated() {
                reading.stats[q] = replies[statsStart + 3 * k].fields
                reading.retrying[q] = replies[statsStart + 3 * k + 1].int ?? 0
                reading.deadNow[q] = replies[statsStart + 3 * k + 2].int ?? 0
            }
        }
        return reading
    }

    /// Takes a reading into the queue and worker state, logging each change once (a key becoming
    /// unreadable or readable again, a queue paused or resumed).
    func absorb(_ reading: PollReading) {
        let prefix = settings.job.prefix
        for q in settings.queues {
            if let message = reading.keyErrors[q] {
                // e.g. WRONGTYPE: hold this queue's workers rather than guess; log the change once.
                if queues[q]!.unreadable == nil {
                    logger.error("queue.unreadable", metadata: ["queue": "\(q)", "key": "\(prefix + q)", "error": "\(message)",
                                                                "action": "holding its workers until the key is a list again"])
                }
                queues[q]!.unreadable = message
                continue
            }
            if queues[q]!.unreadable != nil {
                logger.info("queue.readable", metadata: ["queue": "\(q)"])
                queues[q]!.unreadable = nil
            }
            queues[q]!.pending = reading.lengths[q] ?? 0
        }
        for (pid, fields) in reading.heartbeats {
            guard var w = workers[pid] else { continue }
            _ = w.lifecycle.reportedReady()
            w.isBusy = fields["state"] == WorkerState.busy.rawValue
            w.handlerPID = fields["handler_pid"].flatMap { Int32($0) }
            if let owned = launcher.owned(pid) { watchdog.track(owned, handler: w.handlerPID) }
            w.jobStartedAt = fields["job_started_at"].flatMap { Int64($0) }
            w.pssBytes = fields["pss_bytes"].flatMap { Int($0) } ?? 0
            workers[pid] = w
        }
        lastReading = reading
        if let adaptive = settings.adaptive { measure(reading, adaptive) }
        for q in settings.queues where reading.paused.contains(q) != queues[q]!.isPaused {
            queues[q]!.isPaused = reading.paused.contains(q)
            logger.info(queues[q]!.isPaused ? "queue.paused" : "queue.resumed", metadata: ["queue": "\(q)"])
        }
    }

    /// Starts one worker in the lowest free slot. Returns false when the launch failed.
    private func spawn(_ queue: String, lease: Int) -> Bool {
        let used = Set(workers.values.filter { $0.queue == queue }.map(\.slot))
        let slot = (1...).first { !used.contains($0) }!
        let spec = LaunchSpec(
            executable: settings.workerPath,
            arguments: ["--queue", queue, "--slot", "\(slot)"],
            environment: settings.workerEnvironment(base: baseEnvironment, queue: queue, orchestratorPID: pid),
            logPath: "\(settings.logDir)/worker-\(queue)-\(slot).log", stdinLine: settings.workerStdinLine)
        let now = clock.now
        do {
            let child = try launcher.launch(spec.fenced(by: fleet, slot: lease, queue: queue))
            var worker = Worker(pid: child, queue: queue, slot: slot,
                                id: QueueKeys.workerID(queue: queue, slot: slot, host: settings.fleet.hostID, pid: child), startedAt: now)
            worker.lease = lease
            workers[child] = worker
            // A made-up pid (a fake launcher) has no handle: the watchdog can signal only our children.
            if let owned = launcher.owned(child) { watchdog.track(owned, handler: nil) }
            workerStarts[queue, default: 0] += 1
            events.record("worker_spawned", [("queue", queue), ("slot", "\(slot)"), ("pid", "\(child)")])
            logger.info("\(RebalanceLines.started(name: worker.name, pid: child, queue: queue, total: workers.values.filter { $0.queue == queue }.count))",
                        metadata: ["event": "\(LogEvents.workerSpawned)"])
            return true
        } catch {
            logger.error("worker.launch_failed", metadata: ["queue": "\(queue)", "error": "\(error)"])
            _ = queues[queue]!.backoff.crashed(at: now)
            return false
        }
    }

    /// `orchestrator:<prefix>instance`: who runs, and each queue's numbers, for `status`.
    func writeInstanceHeartbeat() {
        guard isFleetLeader else { return }
        let several = fleetView.hosts.count > 1
        let leased = fleetView.perQueue
        var fields: [(String, String)] = [
            ("pid", "\(pid)"), ("host", host), ("started_at", "\(startedAtMilliseconds)"),
            ("state", isDraining ? "draining" : "running"), ("queues", settings.queues.joined(separator: ",")),
            ("max_total", "\(settings.policy.maxTotal)"), ("updated_at", "\(WallClock.nowMilliseconds())"),
            ("host_id", settings.fleet.hostID), ("hosts", "\(max(1, fleetView.hosts.count))"),
            ("job_timeout_ms", "\(settings.job.jobTimeout.milliseconds)"), ("max_worker_rss_mb", "\(settings.job.maxWorkerRSSMB)"),
        ]
        for q in settings.queues {
            fields.append(("target:\(q)", "\(several ? queues[q]!.fleetTarget ?? queues[q]!.target.allotted : queues[q]!.target.allotted)"))
            fields.append(("workers:\(q)", "\(several ? leased[q] ?? 0 : workers.values.filter { $0.queue == q }.count)"))
            if let limit = queues[q]!.target.limitedBy, queues[q]!.pending > 0 {
                switch limit {
                case .maxPerQueue(let wanted, _): fields.append(("limit:\(q)", "max_per_queue:\(wanted)"))
                case .maxTotal(let wanted, _): fields.append(("limit:\(q)", "max_total:\(wanted)"))
                }
            }
            let rates = histories[q]?.jobsPerMinute(current: doneTotal(q))
            for (name, v) in [("jpm1", rates?.one), ("jpm5", rates?.five), ("jpm15", rates?.fifteen)] {
                if let v { fields.append(("\(name):\(q)", String(format: "%.2f", v))) }
            }
            if let per = rates?.five ?? rates?.one, per > 0 { fields.append(("eta:\(q)", String(Double(queues[q]!.pending) / per * 60))) }
            if let need = queues[q]!.need {
                fields.append(("rate:\(q)", String(need.serviceRate)))
                fields.append(("arrival:\(q)", String(need.arrivalRate)))
                if let eta = need.drainSeconds(pending: queues[q]!.pending, workers: queues[q]!.target.allotted) { fields.append(("drain:\(q)", String(eta))) }
            }
        }
        var commands = Heartbeat.commands(key: QueueKeys.instance(prefix: settings.job.prefix), fields: fields, replace: true)
        if settings.adaptive != nil {
            var hset: [RedisArg] = ["HSET", RedisArg(QueueKeys.rates(prefix: settings.job.prefix))]
            for q in settings.queues { hset += [RedisArg(q), RedisArg(queues[q]!.rates.encoded)] }
            commands.append(hset)
        }
        pipelineReporting(commands, skipped: "not written; `status` reads the workers' heartbeats instead")
    }

    /// `--scaling adaptive`: feeds each readable queue's rates and recomputes its need.
    func measure(_ reading: PollReading, _ adaptive: AdaptivePolicy) {
        let now = clock.now
        for q in settings.queues where queues[q]!.unreadable == nil {
            var state = queues[q]!
            let stats = reading.stats[q] ?? [:]
            let completed = (Int(stats["done"] ?? "") ?? 0) + (Int(stats["failed"] ?? "") ?? 0)
            let busy = workers.values.filter { $0.queue == q && $0.isBusy }.count
            let histogram = JobDuration.histogram(stats)
            let timed = stats["dur_ms_sum"] == nil ? nil : QueueRates.JobTime(jobs: histogram.count, seconds: histogram.sum)
            state.rates.observe(now: now, pending: state.pending, busy: busy, completed: completed, durations: timed)
            if state.pending == 0 { state.backlogSince = nil } else if state.backlogSince == nil { state.backlogSince = now }
            state.need = adaptive.need(pending: state.pending, rates: state.rates, backlogSince: state.backlogSince, now: now)
            queues[q] = state
        }
    }

    /// Restores measured rates kept in Redis by an earlier run (`--scaling adaptive`), so a restart is not cold.
    func restoreRates() {
        guard settings.adaptive != nil,
              let fields = try? link.perform({ c throws(RedisError) in try c.send(["HGETALL", RedisArg(QueueKeys.rates(prefix: settings.job.prefix))]).fields })
        else { return }
        for q in settings.queues {
            if let text = fields[q], let rates = QueueRates(encoded: text) { queues[q]!.rates = rates }
        }
    }

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
