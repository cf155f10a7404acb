import Foundation
import Logging

extension Supervisor {
    /// Between polls: reads every queue's length (one pipelined round trip) and brings the poll
    /// forward when a queue grew enough to want more workers than the last poll saw (the seed's
    /// formula), so a burst is answered within about 100 ms instead of up to a poll interval.
    /// While the fleet's length feed is live, only the queues it does not cover are peeked (none
    /// when every host watches the same queues): the feed brings the poll forward itself.
    func peek() {
        guard settings.pollInterval > Self.peekInterval, redisReadable else { return }
        let feed = lengthSource.liveFeed(now: clock.now)
        let names = settings.queues.filter { feed?.covers($0) != true }
        guard !names.isEmpty else { return }
        guard let replies = try? link.perform({ c throws(RedisError) in try c.pipeline(lengthCommands(names)) }) else { return }
        for (i, q) in names.enumerated() {
            guard let n = replies[i].int else { continue }
            if wantsMore(q, pending: n) {
                nextPoll = clock.now
                return
            }
        }
    }

    /// Whether `pending` jobs in `queue` want more workers than the last poll saw (the seed's formula).
    func wantsMore(_ queue: String, pending: Int) -> Bool {
        guard let state = queues[queue], !state.isPaused, state.unreadable == nil else { return false }
        return settings.policy.rawNeed(pending: pending) > settings.policy.rawNeed(pending: state.pending)
    }

    /// `LLEN` of each of `names`, in order (the poll's read and the peek).
    func lengthCommands(_ names: [String]) -> [[RedisArg]] { names.map { ["LLEN", RedisArg(settings.job.prefix + $0)] } }

    /// An event of the length feed's subscriber: a rise that wants more workers brings the poll
    /// forward at once; a paused set that changed too.
    func lengthFed(_ event: LengthFeedEvent) {
        let pausedBefore = lengthSource.feed.paused
        let changed = lengthSource.handle(event, now: clock.now)
        guard lengthSource.liveFeed(now: clock.now) != nil else { return }
        if changed.contains(where: { wantsMore($0, pending: lengthSource.feed.lengths[$0] ?? 0) }) || lengthSource.feed.paused != pausedBefore {
            nextPoll = clock.now
        }
    }

    /// The leader's reading and publishing of lengths, and the feed's liveness (logged on change).
    /// Not before the first poll: until its renewal has read the fleet, every host thinks it leads.
    func tickLengths() {
        lengthSource.tick(isLeader: redisStateKnown && leases.isLeader, watched: fleetQueues, link: link, now: clock.now)
    }

    /// Stats hashes, retry and dead backlogs are needed by the leader (alerts, history, retry
    /// promotion), `/metrics` and `--scaling adaptive`; other hosts read none of them while idle.
    var readsStats: Bool { leases.isLeader || metrics != nil || settings.adaptive != nil }

    /// What one poll read from Redis, before anything changes.
    struct PollReading {
        /// Per queue: its length…
        var lengths: [String: Int] = [:]
        /// …or the server's error for its key (WRONGTYPE…).
        var keyErrors: [String: String] = [:]
        /// The heartbeats of our workers that have one.
        var heartbeats: [Int32: WorkerHeartbeat] = [:]
        var paused: Set<String> = []
        /// Stats hashes, retry and dead backlogs, read only when /metrics is served.
        var stats: [String: [String: String]] = [:]
        var retrying: [String: Int] = [:]
        var deadNow: [String: Int] = [:]
    }

    /// Reads Redis into the supervisor's state: read, then absorb. False when Redis is unreadable.
    func readRedis() -> Bool {
        let all = heartbeatReadTimer.isDue(clock.now)
        let slow = (statsReadTimer.isDue(clock.now) && readsStats) || settings.adaptive != nil
        // Idle workers change rarely (and say so within Heartbeat.orchestratorReadPeriod); starting and busy ones every poll.
        let pids = workers.compactMap { all || $0.value.lifecycle.state == .launching || $0.value.isBusy ? ($0.key, $0.value.id) : nil }
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
    ///   Due retries are promoted every poll for a queue whose last read showed a retry backlog
    ///   (read every `statsReadPeriod`), and for no other: an idle queue costs no promotion script.
    func read(heartbeatsOf pids: [(pid: Int32, id: String)], stats: Bool) -> PollReading? {
        let prefix = settings.job.prefix
        let now = WallClock.nowMilliseconds()
        // Due retries first, so the lengths read next include them (even with no worker running).
        var commands: [[RedisArg]] = []
        let promoting = settings.queues.filter { (lastReading.retrying[$0] ?? 0) > 0 }
        for q in promoting {
            let keys = QueueKeys(prefix: prefix, queue: q)
            guard let promote = try? link.perform({ c throws(RedisError) in
                try c.scriptCommand(QueueScripts.promote, keys: [keys.retry, keys.pending], args: [RedisArg(String(now)), "100"])
            }) else { return nil }
            commands.append(promote)
        }
        // A live feed gives the lengths of the queues it covers and the paused set: no read of them.
        let feed = lengthSource.liveFeed(now: clock.now)
        let names = settings.queues.filter { feed?.covers($0) != true }
        let lengthsStart = commands.count
        commands += lengthCommands(names)
        let heartbeatsStart = commands.count
        for (_, id) in pids { commands.append(["HGETALL", RedisArg(QueueKeys.heartbeat(prefix: prefix, id))]) }
        let pausedIndex = commands.count
        if feed == nil { commands.append(["SMEMBERS", RedisArg(QueueKeys.paused(prefix: prefix))]) }
        let statsStart = commands.count
        if stats {  // stats and backlogs: for alerts, adaptive scaling, history and /metrics
            for q in settings.queues {
                let keys = QueueKeys(prefix: prefix, queue: q)
                commands += [["HGETALL", RedisArg(keys.stats)], ["ZCARD", RedisArg(keys.retry)], ["LLEN", RedisArg(keys.dead)]]
            }
        }
        // The queue keys themselves are reported by `queue.unreadable`; the others here hold no job.
        if commands.isEmpty, let feed { return parse([], names: [], feed: feed, pids: [], lengthsAt: 0, heartbeatsAt: 0, pausedAt: nil, statsAt: nil) }
        guard let replies = pipelineReporting(commands, skipped: "not read this poll; scaling goes on without it",
                                              exempt: lengthsStart..<heartbeatsStart) else { return nil }
        for i in promoting.indices { link.connection.forgetScript(QueueScripts.promote, ifNoScript: replies[i]) }
        return parse(replies, names: names, feed: feed, pids: pids.map(\.pid), lengthsAt: lengthsStart, heartbeatsAt: heartbeatsStart,
                     pausedAt: feed == nil ? pausedIndex : nil, statsAt: stats ? statsStart : nil)
    }

    /// The poll's replies as a `PollReading`, at the offsets `read` laid its commands out; without
    /// stats (`statsAt` nil) the last reading's stats and backlogs are kept.
    private func parse(_ replies: [RedisReply], names: [String], feed: LengthFeed?, pids: [Int32], lengthsAt lengthsStart: Int,
                       heartbeatsAt heartbeatsStart: Int, pausedAt pausedIndex: Int?, statsAt statsStart: Int?) -> PollReading {
        var reading = PollReading()
        if let feed {
            for q in settings.queues where feed.covers(q) {
                if let e = feed.errors[q] { reading.keyErrors[q] = e } else { reading.lengths[q] = feed.lengths[q] ?? 0 }
            }
            reading.paused = feed.paused
        }
        for (i, q) in names.enumerated() {
            if case .error(let message) = replies[lengthsStart + i] {
                reading.keyErrors[q] = message
            } else {
                reading.lengths[q] = replies[lengthsStart + i].int ?? 0
            }
        }
        for (j, pid) in pids.enumerated() {
            reading.heartbeats[pid] = WorkerHeartbeat(fields: replies[heartbeatsStart + j].fields)
        }
        if let pausedIndex { reading.paused = Set((replies[pausedIndex].array ?? []).compactMap(\.text)) }
        if let statsStart {
            for (k, q) in settings.queues.enumerated() {
                reading.stats[q] = replies[statsStart + 3 * k].fields
                reading.retrying[q] = replies[statsStart + 3 * k + 1].int ?? 0
                reading.deadNow[q] = replies[statsStart + 3 * k + 2].int ?? 0
            }
        } else {
            reading.stats = lastReading.stats
            reading.retrying = lastReading.retrying
            reading.deadNow = lastReading.deadNow
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
                if state(of: q).unreadable == nil {
                    logger.error("queue.unreadable", metadata: ["queue": "\(q)", "key": "\(prefix + q)", "error": "\(message)",
                                                                "action": "holding its workers until the key is a list again"])
                }
                queues[q, default: QueueState()].unreadable = message
                continue
            }
            if state(of: q).unreadable != nil {
                logger.info("queue.readable", metadata: ["queue": "\(q)"])
                queues[q, default: QueueState()].unreadable = nil
            }
            queues[q, default: QueueState()].pending = reading.lengths[q] ?? 0
        }
        for (pid, beat) in reading.heartbeats {
            guard var w = workers[pid] else { continue }
            _ = w.lifecycle.reportedReady()
            w.isBusy = beat.state == .busy
            w.handlerPID = beat.handlerPID
            if let owned = launcher.owned(pid) { leases.track(owned, handler: w.handlerPID) }
            w.jobStartedAt = beat.jobStartedAt
            w.pssBytes = beat.memory.pssBytes
            workers[pid] = w
        }
        lastReading = reading
        if let adaptive = settings.adaptive { measure(reading, adaptive) }
        for q in settings.queues where reading.paused.contains(q) != state(of: q).isPaused {
            queues[q, default: QueueState()].isPaused = reading.paused.contains(q)
            logger.info(reading.paused.contains(q) ? "queue.paused" : "queue.resumed", metadata: ["queue": "\(q)"])
        }
    }

    /// `--scaling adaptive`: feeds each readable queue's rates and recomputes its need.
    func measure(_ reading: PollReading, _ adaptive: AdaptivePolicy) {
        let now = clock.now
        for q in settings.queues where state(of: q).unreadable == nil {
            var state = self.state(of: q)
            let stats = QueueStats(fields: reading.stats[q] ?? [:])
            let completed = stats.done + stats.failed
            let busy = workers.values.filter { $0.queue == q && $0.isBusy }.count
            let histogram = stats.histogram
            let timed = stats.durationSumMilliseconds == nil ? nil : QueueRates.JobTime(jobs: histogram.count, seconds: histogram.sum)
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
            if let text = fields[q], let rates = QueueRates(encoded: text) { queues[q, default: QueueState()].rates = rates }
        }
    }
}
