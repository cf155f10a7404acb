import Foundation
import Logging

/// The fleet's one reader of queue lengths, run by the leader on the supervisor's thread: it
/// reads a watched queue again when a keyspace notification says it changed (at most once per
/// `coalesce`), or, where the server's notifications cannot be had, peeks every queue every
/// `peekInterval`; it publishes what changed on the feed's channel and keeps every length in one
/// hash (`HGETALL orchestrator:<prefix>lengths`, expiring 10 s after the last snapshot: no leader, no hash). A full snapshot every `snapshotPeriod` is
/// also the feed's liveness. Two hosts both leading for a moment publish the same truth twice.
final class LengthPublisher {
    enum Mode: Equatable { case unchecked, notifications, peek(String) }

    static let coalesce: Duration = .milliseconds(100)
    static let peekInterval: Duration = .milliseconds(100)
    static let snapshotPeriod: Duration = .seconds(3)
    static let configCheckPeriod: Duration = .seconds(30)

    let prefix: String
    /// The fleet's watched queues (every live host's, from the member records), sorted.
    private(set) var queues: [String]
    let channel: String
    let hashKey: String
    let pausedKey: String
    /// `--redis-notifications auto`: the leader may `CONFIG SET notify-keyspace-events`.
    let mayConfigure: Bool
    private let logger: Logger
    private let clock = ContinuousClock()
    private(set) var mode: Mode = .unchecked
    private(set) var isActive = false
    /// On the next config check, add missing flags (at start, and after a reconnect: a restarted
    /// server forgot them); the periodic check only notices an operator turning them off.
    private var mayEnable = true
    private var touched: Set<String> = []
    private var pausedTouched = false
    /// When each queue (and the paused set, under "") was last read on a notification: each is
    /// read at most once per `coalesce`, independently (a burst on two queues is read at once).
    private var lastRead: [String: ContinuousClock.Instant] = [:]
    private var published: LengthFeedMessage?
    private var nextRead: ContinuousClock.Instant
    private var nextSnapshot: ContinuousClock.Instant
    private var nextConfigCheck: ContinuousClock.Instant

    init(prefix: String, queues: [String], mayConfigure: Bool, logger: Logger) {
        self.prefix = prefix
        self.queues = queues
        self.channel = Self.channel(prefix: prefix)
        self.hashKey = QueueKeys.lengths(prefix: prefix)
        self.pausedKey = QueueKeys.paused(prefix: prefix)
        self.mayConfigure = mayConfigure
        self.logger = logger
        nextRead = clock.now
        nextSnapshot = clock.now
        nextConfigCheck = clock.now
    }

    /// `orchestrator:<prefix>fleet:lengths`: the feed's channel (a channel, not a key).
    static func channel(prefix: String) -> String { QueueKeys.fleet(prefix: prefix).lengthsChannel }

    /// The keyspace channels the subscriber needs while this host leads with notifications.
    func keyspaceChannels(db: Int) -> Set<String> {
        guard isActive, mode == .notifications else { return [] }
        let head = LengthFeedSubscriber.keyspacePrefix(db: db)
        return Set(queues.map { head + prefix + $0 } + [head + pausedKey])
    }

    /// A keyspace notification for `key`.
    func touched(key: String) {
        guard isActive else { return }
        if key == pausedKey { pausedTouched = true } else if key.hasPrefix(prefix) { touched.insert(String(key.dropFirst(prefix.count))) }
    }

    /// The subscriber reconnected (perhaps to a restarted server): check the config again, enable
    /// what a restart lost, and publish a snapshot at once for every host that re-subscribed.
    func reconnected() {
        mayEnable = true
        nextConfigCheck = clock.now
        nextSnapshot = clock.now
    }

    /// The keyspace subscriptions asked for are confirmed: a snapshot at once. The first one was
    /// published before they were (as soon as this host led), so a push in between would wait
    /// for the next snapshot (3 s: seen in `scripts/bench`'s scale-up runs right after a start).
    func keyspaceSubscribed() {
        if isActive { nextSnapshot = clock.now }
    }

    /// When `tick` has something to do next (nil: nothing while not leading).
    var nextDeadline: ContinuousClock.Instant? {
        guard isActive else { return nil }
        var next = min(nextSnapshot, nextConfigCheck)
        if case .peek = mode { return min(next, nextRead) }
        for name in touched.union(pausedTouched ? [""] : []) { next = min(next, readableAt(name)) }
        return next
    }

    /// Takes the fleet's watched queues (they change as hosts join and leave); a change is
    /// published in a full snapshot at once. Returns whether they changed.
    func watch(_ watched: [String]) -> Bool {
        guard watched != queues else { return false }
        queues = watched
        nextSnapshot = clock.now
        return true
    }

    /// Does what is due. Returns whether the keyspace channels wanted changed.
    func tick(isLeader: Bool, link: RedisLink) -> Bool {
        let before = isActive ? mode : nil
        if !isLeader {
            if isActive { logger.info("lengths.leader", metadata: ["state": "handed over", "why": "another host leads the fleet"]) }
            isActive = false
            published = nil
            return before != nil
        }
        let now = clock.now
        if !isActive {
            isActive = true
            nextSnapshot = now; nextConfigCheck = now; mayEnable = true
        }
        if now >= nextConfigCheck { checkConfig(link) }
        if now >= nextSnapshot {
            if publish(read(queues, paused: true, link), full: true, link) { nextSnapshot = now + Self.snapshotPeriod } else { nextSnapshot = now + .seconds(1) }
            touched = []; pausedTouched = false
        } else if now >= nextRead {
            if case .peek = mode {
                _ = publish(read(queues, paused: true, link), full: false, link)
                nextRead = now + Self.peekInterval
            }
        }
        if mode == .notifications { readTouched(now: now, link) }
        return before != mode
    }

    private func readableAt(_ name: String) -> ContinuousClock.Instant {
        lastRead[name].map { $0 + Self.coalesce } ?? clock.now
    }

    /// Reads the touched queues (and the paused set) not read within `coalesce`, in one round trip.
    private func readTouched(now: ContinuousClock.Instant, _ link: RedisLink) {
        let readable = { (name: String) in self.lastRead[name].map { $0 + Self.coalesce <= now } ?? true }
        let names = queues.filter { touched.contains($0) && readable($0) }
        let paused = pausedTouched && readable("")
        guard !names.isEmpty || paused else { return }
        _ = publish(read(names, paused: paused, link), full: false, link)
        for q in names { touched.remove(q); lastRead[q] = now }
        if paused { pausedTouched = false; lastRead[""] = now }
    }

    /// The lengths of `names` (and the paused set) in one round trip; nil when Redis is unreachable.
    private func read(_ names: [String], paused: Bool, _ link: RedisLink) -> LengthFeedMessage? {
        var commands: [[RedisArg]] = names.map { ["LLEN", RedisArg(prefix + $0)] }
        if paused { commands.append(["SMEMBERS", RedisArg(pausedKey)]) }
        guard !commands.isEmpty, let replies = try? link.perform({ c throws(RedisError) in try c.pipeline(commands) }) else { return nil }
        var m = LengthFeedMessage(isFull: false)
        for (i, q) in names.enumerated() {
            if case .error(let e) = replies[i] { m.errors[q] = e } else { m.lengths[q] = replies[i].int ?? 0 }
        }
        if paused { m.paused = Set((replies[names.count].array ?? []).compactMap(\.text)) }
        return m
    }

    /// Publishes `reading` (a full snapshot, or what changed since the last message) and writes
    /// the hash. False when nothing was read or Redis refused.
    private func publish(_ reading: LengthFeedMessage?, full: Bool, _ link: RedisLink) -> Bool {
        guard var m = reading else { return false }
        m.isFull = full
        if !full, let last = published {
            m.lengths = m.lengths.filter { last.lengths[$0.key] != $0.value }
            m.errors = m.errors.filter { last.errors[$0.key] != $0.value }
            if m.paused == last.paused { m.paused = nil }
        }
        if m.isEmpty { return true }
        var commands: [[RedisArg]] = []
        if !m.lengths.isEmpty { commands.append(["HSET", RedisArg(hashKey)] + m.lengths.flatMap { [RedisArg($0.key), RedisArg(String($0.value))] }) }
        if !m.errors.isEmpty { commands.append(["HDEL", RedisArg(hashKey)] + m.errors.keys.map { RedisArg($0) }) }
        if full { commands.append(["PEXPIRE", RedisArg(hashKey), "10000"]) }
        commands.append(["PUBLISH", RedisArg(channel), RedisArg(m.encoded)])
        guard (try? link.perform({ c throws(RedisError) in try c.pipeline(commands) })) != nil else { return false }
        var merged = published ?? LengthFeedMessage(isFull: true, paused: [])
        for (q, n) in m.lengths { merged.lengths[q] = n; merged.errors[q] = nil }
        for (q, e) in m.errors { merged.errors[q] = e; merged.lengths[q] = nil }
        if let p = m.paused { merged.paused = p }
        published = merged
        return true
    }
}

extension LengthPublisher {
    /// Reads `notify-keyspace-events`; adds the missing flags when allowed (`mayEnable`: at start
    /// and after a reconnect), else falls back to peeking. Logs each change of mode once.
    func checkConfig(_ link: RedisLink) {
        nextConfigCheck = ContinuousClock().now + Self.configCheckPeriod
        let enable = mayEnable
        mayEnable = false
        guard mayConfigure else { return setMode(.peek("--redis-notifications off")) }
        let got: RedisReply
        do throws(RedisError) {
            got = try link.perform { c throws(RedisError) in try c.send(["CONFIG", "GET", "notify-keyspace-events"]) }
        } catch {
            if case .server(let m) = error { return setMode(.peek("CONFIG GET refused: \(m)")) }
            nextConfigCheck = ContinuousClock().now + .seconds(1)  // unreachable: look again soon
            mayEnable = enable
            return
        }
        guard let items = got.array, items.count == 2, let was = items[1].text else {
            return setMode(.peek("CONFIG GET notify-keyspace-events answered \(got)"))
        }
        let missing = KeyspaceFlags.missing(in: was)
        if missing.isEmpty { return setMode(.notifications) }
        guard enable else { return setMode(.peek("notify-keyspace-events is '\(was)' now (turned off on the server)")) }
        do throws(RedisError) {
            _ = try link.perform { c throws(RedisError) in try c.send(["CONFIG", "SET", "notify-keyspace-events", RedisArg(was + missing)]) }
            logger.notice("lengths.notifications", metadata: ["enabled": "\(was + missing)", "was": "\(was)",
                                                               "note": "CONFIG SET notify-keyspace-events (not saved; --redis-notifications off leaves it alone)"])
            setMode(.notifications)
        } catch {
            setMode(.peek("CONFIG SET notify-keyspace-events refused: \(error)"))
        }
    }

    private func setMode(_ new: Mode) {
        guard new != mode else { return }
        mode = new
        switch new {
        case .notifications:
            logger.info("lengths.mode", metadata: ["mode": "notifications", "queues": "\(queues.count)",
                                                  "note": "this host reads a queue's length when Redis says it changed, and publishes it to the fleet"])
        case .peek(let why):
            logger.warning("lengths.mode", metadata: ["mode": "peek", "why": "\(why)",
                                                     "cost": "LLEN of every queue every \(formatDuration(Self.peekInterval)) by this host alone"])
        case .unchecked: break
        }
    }
}
