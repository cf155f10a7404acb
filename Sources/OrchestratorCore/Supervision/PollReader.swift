import Foundation
import Logging

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

/// The poll's read of Redis (one pipelined round trip, `read`) and the peek between polls. It
/// owns the read timers and the last reading (whose stats are kept between stats reads); the
/// Supervisor passes in its workers as values and absorbs the `PollReading` it gets back.
final class PollReader {
    let settings: OrchestratorSettings
    let link: RedisLink
    let logger: Logger
    /// Queue lengths from the fleet's feed (a live feed covers some queues: they are not read).
    let lengthSource: LengthSource
    private let clock = ContinuousClock()
    /// Every worker's heartbeat is read this often (idle ones change rarely); starting ones every poll.
    private var heartbeatReadTimer = Every(Heartbeat.orchestratorReadPeriod)
    /// Stats hashes and retry/dead backlogs are read this often (every poll with adaptive scaling).
    private var statsReadTimer = Every(Heartbeat.statsReadPeriod)
    /// The last poll's reading (for /metrics, alerts, history: stats, backlogs).
    private(set) var last = PollReading()

    init(settings: OrchestratorSettings, link: RedisLink, lengthSource: LengthSource, logger: Logger) {
        (self.settings, self.link, self.lengthSource, self.logger) = (settings, link, lengthSource, logger)
    }

    /// One worker as the read sees it: `changing` (starting or busy) ones are read every poll.
    struct WorkerRef {
        let pid: Int32
        let id: String
        let changing: Bool
    }

    /// Reads Redis for one poll (`read`) and absorbs the reading into the table passed in
    /// (`PollReading.absorb`). Returns the workers whose heartbeat was taken (the fence tracks
    /// their handlers), or nil when Redis is unreadable. Stats hashes, retry and dead backlogs are
    /// needed by the leader (alerts, history, retry promotion), `/metrics` (`serving`) and
    /// `--scaling adaptive`; other hosts read none of them while idle.
    func readAndAbsorb(queues: inout [String: SupervisedQueue], workers: inout [Int32: SupervisedWorker], isLeader: Bool, serving: Bool,
                       keyFaults: inout KeyFaults, now: ContinuousClock.Instant) -> [Int32]? {
        let refs = workers.map { WorkerRef(pid: $0.key, id: $0.value.id, changing: $0.value.lifecycle.state == .launching || $0.value.isBusy) }
        let readsStats = isLeader || serving || settings.adaptive != nil
        guard let reading = read(workers: refs, readsStats: readsStats, keyFaults: &keyFaults) else { return nil }
        return reading.absorb(into: &queues, workers: &workers, settings: settings, logger: logger, now: now)
    }

    /// Reads Redis for one poll; nil when Redis is unreadable.
    /// - Parameter readsStats: whether stats are wanted at all (the leader, /metrics, adaptive scaling).
    func read(workers: [WorkerRef], readsStats: Bool, keyFaults: inout KeyFaults) -> PollReading? {
        let all = heartbeatReadTimer.isDue(clock.now)
        let slow = (statsReadTimer.isDue(clock.now) && readsStats) || settings.adaptive != nil
        // Idle workers change rarely (and say so within Heartbeat.orchestratorReadPeriod); starting and busy ones every poll.
        let pids = workers.compactMap { all || $0.changing ? ($0.pid, $0.id) : nil }
        guard let reading = read(heartbeatsOf: pids, stats: slow, keyFaults: &keyFaults) else {
            heartbeatReadTimer.reset()
            statsReadTimer.reset()
            return nil
        }
        last = reading
        return reading
    }

    /// Between polls: every queue's length the live feed does not cover (one pipelined round
    /// trip), in `settings.queues` order; nil when there is none to read or Redis did not answer.
    private func peekLengths() -> [(queue: String, length: Int)]? {
        let feed = lengthSource.liveFeed(now: clock.now)
        let names = settings.queues.filter { feed?.covers($0) != true }
        guard !names.isEmpty else { return nil }
        guard let replies = try? link.perform({ c throws(RedisError) in try c.pipeline(lengthCommands(names)) }) else { return nil }
        return names.enumerated().compactMap { i, q in replies[i].int.map { (q, $0) } }
    }

    /// Between polls (the peek): whether a queue grew enough to want more workers than the last
    /// poll saw (the seed's formula), so a burst is answered within about 100 ms instead of up to
    /// a poll interval. While the fleet's length feed is live, only the queues it does not cover
    /// are peeked (none when every host watches the same queues): the feed brings the poll forward itself.
    func peekWantsMore(states: [String: SupervisedQueue]) -> Bool {
        guard let lengths = peekLengths() else { return false }
        return lengths.contains { states[$0.queue]?.wantsMore(pending: $0.length, policy: settings.policy) ?? false }
    }

    /// An event of the length feed's subscriber: true when it brings the poll forward (a rise
    /// that wants more workers, a paused set that changed).
    func fed(_ event: LengthFeedEvent, states: [String: SupervisedQueue]) -> Bool {
        let pausedBefore = lengthSource.feed.paused
        let changed = lengthSource.handle(event, now: clock.now)
        guard lengthSource.liveFeed(now: clock.now) != nil else { return false }
        let feed = lengthSource.feed
        return changed.contains { states[$0]?.wantsMore(pending: feed.lengths[$0] ?? 0, policy: settings.policy) ?? false } || feed.paused != pausedBefore
    }

    /// `LLEN` of each of `names`, in order (the poll's read and the peek).
    func lengthCommands(_ names: [String]) -> [[RedisArg]] { names.map { ["LLEN", RedisArg(settings.job.prefix + $0)] } }

    /// Measured rates kept in Redis by an earlier run (`--scaling adaptive`), so a restart is not cold.
    func storedRates() -> [String: QueueRates] {
        guard settings.adaptive != nil,
              let fields = try? link.perform({ c throws(RedisError) in try c.send(["HGETALL", RedisArg(QueueKeys.rates(prefix: settings.job.prefix))]).fields })
        else { return [:] }
        var rates: [String: QueueRates] = [:]
        for q in settings.queues {
            if let text = fields[q], let r = QueueRates(encoded: text) { rates[q] = r }
        }
        return rates
    }

    /// Promotes due retries, then reads every queue length, our workers' heartbeats, the paused set
    /// (and stats for /metrics) in one round trip. Changes nothing; nil on a connection error.
    /// - Parameter stats: also read the stats hashes and the retry and dead backlogs (every
    ///   `statsReadPeriod`, every poll with adaptive scaling); otherwise the last ones are kept.
    ///   Due retries are promoted every poll for a queue whose last read showed a retry backlog
    ///   (read every `statsReadPeriod`), and for no other: an idle queue costs no promotion script.
    private func read(heartbeatsOf pids: [(pid: Int32, id: String)], stats: Bool, keyFaults: inout KeyFaults) -> PollReading? {
        let prefix = settings.job.prefix
        let now = WallClock.nowMilliseconds()
        // Due retries first, so the lengths read next include them (even with no worker running).
        var commands: [[RedisArg]] = []
        let promoting = settings.queues.filter { (last.retrying[$0] ?? 0) > 0 }
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
        guard let replies = keyFaults.pipeline(commands, on: link, skipped: "not read this poll; scaling goes on without it",
                                               exempt: lengthsStart..<heartbeatsStart, logger: logger) else { return nil }
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
            reading.stats = last.stats
            reading.retrying = last.retrying
            reading.deadNow = last.deadNow
        }
        return reading
    }
}
