import Foundation
import Logging

/// What a host knows from the fleet's length feed, and whether the feed is live: subscribed,
/// a full snapshot received since the last (re)subscription, and a message within `liveness`.
/// Pure: the times are given.
struct LengthFeed {
    /// Three snapshot periods: a leader that stopped publishing is noticed within this.
    static let liveness: Duration = LengthPublisher.snapshotPeriod * 2 + .seconds(1)

    private(set) var isSubscribed = false
    private(set) var hasSnapshot = false
    private(set) var lastMessageAt: ContinuousClock.Instant?
    private(set) var lengths: [String: Int] = [:]
    private(set) var errors: [String: String] = [:]
    private(set) var paused: Set<String> = []
    /// The queues named by the last full snapshot (those the leader watches).
    private(set) var covered: Set<String> = []
    /// Why the feed is not live, when the subscriber said so (its connection dropped).
    private(set) var dropped: String?

    func isLive(now: ContinuousClock.Instant) -> Bool {
        guard isSubscribed, hasSnapshot, let last = lastMessageAt else { return false }
        return now - last < Self.liveness
    }

    func covers(_ queue: String) -> Bool { covered.contains(queue) }

    mutating func subscribed() {
        isSubscribed = true
        hasSnapshot = false  // messages published while we were away were missed
        dropped = nil
    }

    mutating func lost(_ why: String) {
        isSubscribed = false
        hasSnapshot = false
        dropped = why
    }

    /// Takes a message in; returns the queues whose length it changed.
    mutating func receive(_ m: LengthFeedMessage, now: ContinuousClock.Instant) -> [String] {
        if m.isFull {
            hasSnapshot = true
            covered = Set(m.lengths.keys).union(m.errors.keys)
        } else if !hasSnapshot {
            return []
        }
        lastMessageAt = now
        var changed: [String] = []
        for (q, n) in m.lengths {
            if lengths[q] != n { changed.append(q) }
            lengths[q] = n
            errors[q] = nil
        }
        for (q, e) in m.errors {
            errors[q] = e
            lengths[q] = nil
        }
        if let p = m.paused { paused = p }
        return changed
    }
}

/// The length feed of one host: its subscriber thread, what it was told, and (while it leads
/// the fleet) the publisher. Used on the supervisor's thread only.
final class LengthSource {
    private(set) var subscriber: LengthFeedSubscriber?
    private let endpoint: RedisEndpoint
    private let inbox: EventInbox
    let publisher: LengthPublisher
    private(set) var feed = LengthFeed()
    private let db: Int
    private let logger: Logger
    /// The feed's state last logged (nil: not logged yet).
    private var loggedLive: Bool?

    init(settings: OrchestratorSettings, endpoint: RedisEndpoint, inbox: EventInbox, logger: Logger, watched: [String]) {
        self.endpoint = endpoint
        self.inbox = inbox
        publisher = LengthPublisher(prefix: settings.job.prefix, queues: watched, mayConfigure: settings.redisNotifications, logger: logger)
        db = endpoint.db
        self.logger = logger
    }

    /// Starts the subscriber's thread (once; `run()` calls it).
    func start() {
        guard subscriber == nil else { return }
        subscriber = LengthFeedSubscriber(endpoint: endpoint, channel: publisher.channel, inbox: inbox)
    }

    func stop() { subscriber?.stop() }

    /// The feed when it is live (nil: read Redis as before).
    func liveFeed(now: ContinuousClock.Instant) -> LengthFeed? { feed.isLive(now: now) ? feed : nil }

    /// Takes an event of the subscriber; returns the queues whose length changed.
    func handle(_ event: LengthFeedEvent, now: ContinuousClock.Instant) -> [String] {
        switch event {
        case .message(let m): return feed.receive(m, now: now)
        case .touched(let key): publisher.touched(key: key)
        case .subscribed:
            feed.subscribed()
            publisher.reconnected()
            subscriber?.watch(publisher.keyspaceChannels(db: db))  // resubscribed from scratch
        case .lost(let why): feed.lost(why)
        case .keyspaceSubscribed: publisher.keyspaceSubscribed()
        }
        return []
    }

    /// The leader's reads and publishing; logs a change of the feed's state once.
    /// `watched`: the queues of every live host of the fleet (the leader reads them all).
    func tick(isLeader: Bool, watched: [String], link: RedisLink, now: ContinuousClock.Instant) {
        let grew = publisher.watch(watched)
        if publisher.tick(isLeader: isLeader, link: link) || (grew && isLeader) { subscriber?.watch(publisher.keyspaceChannels(db: db)) }
        let live = feed.isLive(now: now)
        guard live != loggedLive, live || loggedLive != nil else { return }
        loggedLive = live
        if live {
            logger.info("lengths.feed", metadata: ["state": "live", "queues": "\(feed.covered.count)",
                                                  "note": "queue lengths come from the fleet's leader; no per-queue read while idle"])
        } else {
            let why = feed.dropped.map { "subscriber connection dropped: \($0)" }
                ?? (feed.isSubscribed && !feed.hasSnapshot ? "resubscribed, waiting for a snapshot" : "no message from the leader for \(formatDuration(LengthFeed.liveness))")
            logger.warning("lengths.feed", metadata: ["state": "lost", "why": "\(why)", "action": "reading every queue itself (LLEN each poll and every 100ms) until the feed is back"])
        }
    }

    /// When `tick` wants to run next.
    func nextDeadline(now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        var next = publisher.nextDeadline
        if let last = feed.lastMessageAt, feed.isLive(now: now) { next = min(next ?? last + LengthFeed.liveness, last + LengthFeed.liveness) }
        return next
    }
}
