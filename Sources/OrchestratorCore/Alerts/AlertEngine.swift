/// The alert rules, each a condition over what one poll sees.
public enum AlertRule: String, Sendable, CaseIterable, Codable {
    case capReached = "cap_reached", crashLoop = "crash_loop", redisDown = "redis_down", deadLetters = "dead_letters"
    case stuckJob = "stuck_job", noProgress = "no_progress", workerMemory = "worker_memory"
    case queueUnreadable = "queue_unreadable"

    /// Critical rules page someone; the others are warnings.
    public var isCritical: Bool { self == .crashLoop || self == .redisDown || self == .queueUnreadable }
}

/// One queue as the rules see it at one poll.
public struct AlertQueueObservation: Sendable, Equatable {
    public var name: String
    public var pending: Int
    /// The caps gave it fewer workers than it wanted.
    public var limited: Bool
    public var doneTotal: Int
    public var deadTotal: Int
    public var busyWorkers: Int
    public var crashesInWindow: Int
    public var oldestJobAgeSeconds: Double
    /// PSS of each worker's tree, by slot.
    public var workerMemory: [Int: Int]
    /// The queue's key cannot be read (a key of the wrong type): the key and the server's reason.
    public var unreadable: (key: String, reason: String)?

    public init(name: String, pending: Int = 0, limited: Bool = false, doneTotal: Int = 0, deadTotal: Int = 0, busyWorkers: Int = 0,
                crashesInWindow: Int = 0, oldestJobAgeSeconds: Double = 0, workerMemory: [Int: Int] = [:],
                unreadable: (key: String, reason: String)? = nil) {
        self.name = name; self.pending = pending; self.limited = limited; self.doneTotal = doneTotal; self.deadTotal = deadTotal
        self.busyWorkers = busyWorkers; self.crashesInWindow = crashesInWindow; self.oldestJobAgeSeconds = oldestJobAgeSeconds
        self.workerMemory = workerMemory; self.unreadable = unreadable
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.name == b.name && a.pending == b.pending && a.limited == b.limited && a.doneTotal == b.doneTotal && a.deadTotal == b.deadTotal
            && a.busyWorkers == b.busyWorkers && a.crashesInWindow == b.crashesInWindow && a.oldestJobAgeSeconds == b.oldestJobAgeSeconds
            && a.workerMemory == b.workerMemory && a.unreadable?.key == b.unreadable?.key && a.unreadable?.reason == b.unreadable?.reason
    }
}

/// A notification: an alert fired, is still active (repeat), or resolved.
public struct AlertNotification: Sendable, Equatable {
    public enum Kind: String, Sendable { case fired, repeated, resolved }
    public var kind: Kind
    public var rule: AlertRule
    /// "" for fleet-wide rules (redis_down).
    public var queue: String
    public var message: String
    public var since: ContinuousClock.Instant

    /// The seed-style line: `[ALERTA] dead_letters q: …` / `[ALERTA RESOLVIDO] …`.
    public var line: String {
        let subject = queue.isEmpty ? rule.rawValue : "\(rule.rawValue) \(queue)"
        return kind == .resolved ? "[ALERTA RESOLVIDO] \(subject): \(message)" : "[ALERTA] \(subject): \(message)"
    }
}

/// The alert state machine: pure (values in, notifications out, clock injected). Each (rule,
/// queue) fires once when its condition starts, repeats every `repeatEvery` while it holds, and
/// resolves when it clears; a condition that flaps notifies at most once per `repeatEvery`.
public struct AlertEngine: Sendable {
    public var settings: AlertSettings
    struct Key: Hashable, Sendable { var rule: AlertRule; var queue: String }
    struct State: Sendable {
        var active = false
        var since: ContinuousClock.Instant?
        var notifiedFire = false
        var lastNotification: ContinuousClock.Instant?
        var message = ""
    }
    struct QueueMemory: Sendable {
        var limitedSince: ContinuousClock.Instant?
        var pendingWhenLimited = 0
        var lastDeadTotal: Int?
        var lastDeadIncrease: ContinuousClock.Instant?
        var lastDone: Int?
        var lastProgress: ContinuousClock.Instant?
        var memoryPollsOver: [Int: Int] = [:]
    }
    var states: [Key: State] = [:]
    var queues: [String: QueueMemory] = [:]
    var redisDownSince: ContinuousClock.Instant?

    public init(settings: AlertSettings = AlertSettings()) { self.settings = settings }

    /// The alerts active now, with their messages and since when.
    public var active: [(rule: AlertRule, queue: String, message: String, since: ContinuousClock.Instant)] {
        states.filter { $0.value.active }.map { ($0.key.rule, $0.key.queue, $0.value.message, $0.value.since!) }
            .sorted { ($0.rule.rawValue, $0.queue) < ($1.rule.rawValue, $1.queue) }
    }

    /// One poll. `queues` is empty when Redis could not be read.
    public mutating func evaluate(now: ContinuousClock.Instant, redisReadable: Bool, queues observed: [AlertQueueObservation],
                                  jobTimeout: Duration, memoryLimitBytes: Int) -> [AlertNotification] {
        var conditions: [Key: String] = [:]
        if redisReadable { redisDownSince = nil } else if redisDownSince == nil { redisDownSince = now }
        if let since = redisDownSince, now - since >= settings.redisDownFor {
            conditions[Key(rule: .redisDown, queue: "")] = "Redis unreadable for \(formatDuration(now - since)); workers are held, jobs wait"
        }
        for q in observed {
            for (rule, message) in check(q, now: now, jobTimeout: jobTimeout, memoryLimitBytes: memoryLimitBytes) {
                conditions[Key(rule: rule, queue: q.name)] = message
            }
        }
        // Queue rules hold their state while Redis is unreadable (nothing is known then).
        let judged = Set(observed.map(\.name))
        var out: [AlertNotification] = []
        for key in Set(states.keys).union(conditions.keys).sorted(by: { ($0.rule.rawValue, $0.queue) < ($1.rule.rawValue, $1.queue) })
        where !settings.disabled.contains(key.rule) && (key.queue.isEmpty || judged.contains(key.queue)) {
            if let n = step(key, message: conditions[key], now: now) { out.append(n) }
        }
        return out
    }

    private mutating func step(_ key: Key, message: String?, now: ContinuousClock.Instant) -> AlertNotification? {
        var s = states[key] ?? State()
        defer { states[key] = s }
        let quiet = s.lastNotification.map { now - $0 < settings.repeatEvery } ?? false
        if let message {
            if !s.active {
                s.active = true
                s.since = now
                s.message = message
                s.notifiedFire = !quiet
                if quiet { return nil }
                s.lastNotification = now
                return AlertNotification(kind: .fired, rule: key.rule, queue: key.queue, message: message, since: now)
            }
            s.message = message
            guard !quiet else { return nil }
            s.lastNotification = now
            let kind: AlertNotification.Kind = s.notifiedFire ? .repeated : .fired
            s.notifiedFire = true
            return AlertNotification(kind: kind, rule: key.rule, queue: key.queue, message: message, since: s.since!)
        }
        guard s.active else { return nil }
        s.active = false
        guard s.notifiedFire else { return nil }
        s.notifiedFire = false
        s.lastNotification = now
        return AlertNotification(kind: .resolved, rule: key.rule, queue: key.queue, message: "cleared after \(formatDuration(now - s.since!))",
                                 since: s.since!)
    }

    private mutating func check(_ q: AlertQueueObservation, now: ContinuousClock.Instant, jobTimeout: Duration,
                                memoryLimitBytes: Int) -> [(AlertRule, String)] {
        var m = queues[q.name] ?? QueueMemory()
        defer { queues[q.name] = m }
        var found: [(AlertRule, String)] = []
        // queue_unreadable: at once; the supervisor holds the queue's workers meanwhile.
        if let u = q.unreadable {
            found.append((.queueUnreadable, "key \(u.key) cannot be read (\(u.reason)); its workers are held until the key is a list again"))
        }
        if let capped = capReached(q, &m, now: now) { found.append(capped) }
        if q.crashesInWindow >= settings.crashLoopCount {
            found.append((.crashLoop, "\(q.crashesInWindow) worker crashes within \(formatDuration(settings.crashLoopWindow)); restarts back off"))
        }
        if let dead = deadLetters(q, &m, now: now) { found.append(dead) }
        if q.oldestJobAgeSeconds > settings.stuckFraction * jobTimeout.seconds {
            found.append((.stuckJob, "a job has run \(Int(q.oldestJobAgeSeconds)) s, over \(Int(settings.stuckFraction * 100)) % of --job-timeout \(formatDuration(jobTimeout))"))
        }
        if let stalled = noProgress(q, &m, now: now) { found.append(stalled) }
        if memoryLimitBytes > 0, let memory = workerMemory(q, &m, limitBytes: memoryLimitBytes) { found.append(memory) }
        return found
    }

    /// cap_reached: limited by a cap for a while, and the backlog did not shrink meanwhile.
    private func capReached(_ q: AlertQueueObservation, _ m: inout QueueMemory, now: ContinuousClock.Instant) -> (AlertRule, String)? {
        guard q.limited else {
            m.limitedSince = nil
            return nil
        }
        if m.limitedSince == nil { m.limitedSince = now; m.pendingWhenLimited = q.pending }
        // "Did not shrink": within 10 % of where it was (the jobs being worked on meanwhile do not count).
        guard let since = m.limitedSince, now - since >= settings.capReachedFor, Double(q.pending) >= 0.9 * Double(m.pendingWhenLimited) else { return nil }
        return (.capReached, "limited by --max-per-queue or --max-total for \(formatDuration(now - since)) and the backlog did not shrink (\(m.pendingWhenLimited) → \(q.pending))")
    }

    /// dead_letters: the dead list grew recently.
    private func deadLetters(_ q: AlertQueueObservation, _ m: inout QueueMemory, now: ContinuousClock.Instant) -> (AlertRule, String)? {
        if let last = m.lastDeadTotal, q.deadTotal > last { m.lastDeadIncrease = now }
        m.lastDeadTotal = q.deadTotal
        guard let at = m.lastDeadIncrease, now - at < settings.deadLettersWindow else { return nil }
        return (.deadLetters, "jobs were dead-lettered in the last \(formatDuration(settings.deadLettersWindow)) (orchestrator dead --queue \(shellQuoted(q.name)))")
    }

    /// no_progress: pending jobs and busy workers, but nothing completed for a while.
    private func noProgress(_ q: AlertQueueObservation, _ m: inout QueueMemory, now: ContinuousClock.Instant) -> (AlertRule, String)? {
        defer { m.lastDone = q.doneTotal }
        guard q.pending > 0 && q.busyWorkers > 0 else {
            m.lastProgress = nil
            return nil
        }
        if m.lastDone != q.doneTotal || m.lastProgress == nil { m.lastProgress = now }
        guard let at = m.lastProgress, now - at >= settings.noProgressFor else { return nil }
        return (.noProgress, "\(q.pending) pending and \(q.busyWorkers) busy worker(s), nothing completed for \(formatDuration(now - at))")
    }

    /// worker_memory: a worker over the fraction of `--max-worker-rss-mb` for several polls in a row.
    private func workerMemory(_ q: AlertQueueObservation, _ m: inout QueueMemory, limitBytes: Int) -> (AlertRule, String)? {
        let over = q.workerMemory.filter { Double($0.value) > settings.memoryFraction * Double(limitBytes) }
        m.memoryPollsOver = Dictionary(uniqueKeysWithValues: over.keys.map { ($0, (m.memoryPollsOver[$0] ?? 0) + 1) })
        guard let (slot, polls) = m.memoryPollsOver.sorted(by: { $0.key < $1.key }).first(where: { $0.value >= settings.memoryPolls }),
              let bytes = over[slot] else { return nil }
        return (.workerMemory, "worker \(q.name)-\(slot) uses \(bytes >> 20) MB, over \(Int(settings.memoryFraction * 100)) % of --max-worker-rss-mb for \(polls) polls")
    }
}
