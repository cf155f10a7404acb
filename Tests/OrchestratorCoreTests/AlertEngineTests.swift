import OrchestratorCore
import Testing

@Suite("alert rules (pure, injected clock)")
struct AlertEngineTests {
    let t0 = ContinuousClock().now
    var engine = AlertEngine()

    mutating func poll(_ s: Int, redis: Bool = true, _ qs: [AlertQueueObservation], timeout: Duration = .seconds(600), memory: Int = 0) -> [AlertNotification] {
        engine.evaluate(now: t0 + .seconds(s), redisReadable: redis, queues: qs, jobTimeout: timeout, memoryLimitBytes: memory)
    }

    @Test("dead_letters fires once, repeats every 30 min while it holds, resolves when no new dead letter for 10 min")
    mutating func deadLetters() {
        #expect(poll(0, [AlertQueueObservation(name: "q", deadTotal: 0)]).isEmpty)
        let fired = poll(1, [AlertQueueObservation(name: "q", deadTotal: 1)])
        #expect(fired.map(\.kind) == [.fired] && fired.first?.line.hasPrefix("[ALERTA] dead_letters q: ") == true)
        #expect(poll(2, [AlertQueueObservation(name: "q", deadTotal: 2)]).isEmpty, "once, not every poll")
        #expect(engine.active.map(\.rule) == [.deadLetters])
        #expect(poll(1802, [AlertQueueObservation(name: "q", deadTotal: 3)]).map(\.kind) == [.repeated])
        let resolved = poll(2403, [AlertQueueObservation(name: "q", deadTotal: 3)])
        #expect(resolved.map(\.kind) == [.resolved] && resolved.first?.line.hasPrefix("[ALERTA RESOLVIDO] dead_letters q:") == true)
        #expect(engine.active.isEmpty)
    }

    @Test("queue_unreadable fires at once (critical) naming the key and the reason, and resolves when the key is readable again")
    mutating func queueUnreadable() {
        let bad = AlertQueueObservation(name: "wt", unreadable: (key: "fila:wt", reason: "WRONGTYPE Operation against a key holding the wrong kind of value"))
        let fired = poll(0, [AlertQueueObservation(name: "ok", pending: 5), bad])
        #expect(fired.map(\.rule) == [.queueUnreadable] && fired.first?.queue == "wt" && AlertRule.queueUnreadable.isCritical)
        #expect(fired.first?.line.hasPrefix("[ALERTA] queue_unreadable wt: key fila:wt cannot be read (WRONGTYPE") == true, "\(fired)")
        #expect(poll(1, [bad]).isEmpty, "once, not every poll")
        #expect(poll(2, [AlertQueueObservation(name: "wt")]).map(\.kind) == [.resolved])
    }

    @Test("the dead_letters hint quotes the queue name for a shell")
    mutating func deadLettersHintQuoted() {
        _ = poll(0, [AlertQueueObservation(name: "q$(id)", deadTotal: 0)])
        let fired = poll(1, [AlertQueueObservation(name: "q$(id)", deadTotal: 1)])
        #expect(fired.first?.message.hasSuffix("(orchestrator dead --queue 'q$(id)')") == true, "\(fired)")
    }

    @Test("no storm: a flapping condition notifies at most once per repeat interval")
    mutating func flapping() {
        var notifications = 0
        for s in 0..<600 {
            let crashes = s % 2 == 0 ? 5 : 0
            notifications += poll(s, [AlertQueueObservation(name: "q", crashesInWindow: crashes)]).filter { $0.kind != .resolved }.count
        }
        #expect(notifications == 1, "\(notifications) notifications in 10 minutes of flapping")
    }

    @Test("redis_down after 30 s unreadable, critical, resolved when readable; queue rules hold their state meanwhile")
    mutating func redisDown() {
        #expect(poll(0, [AlertQueueObservation(name: "q", deadTotal: 0)]).isEmpty)
        #expect(poll(1, redis: false, []).isEmpty)
        let down = poll(31, redis: false, [])
        #expect(down.map(\.rule) == [.redisDown] && down.first?.queue == "" && AlertRule.redisDown.isCritical)
        #expect(poll(40, [AlertQueueObservation(name: "q", deadTotal: 0)]).map(\.kind) == [.resolved])
    }

    @Test("cap_reached needs the cap to bind for 5 min with a backlog that does not shrink")
    mutating func capReached() {
        #expect(poll(0, [AlertQueueObservation(name: "q", pending: 900, limited: true)]).isEmpty)
        #expect(poll(299, [AlertQueueObservation(name: "q", pending: 950, limited: true)]).isEmpty)
        #expect(poll(300, [AlertQueueObservation(name: "q", pending: 950, limited: true)]).map(\.rule) == [.capReached])
        var shrinking = AlertEngine()
        _ = shrinking.evaluate(now: t0, redisReadable: true, queues: [AlertQueueObservation(name: "q", pending: 900, limited: true)], jobTimeout: .seconds(600), memoryLimitBytes: 0)
        #expect(shrinking.evaluate(now: t0 + .seconds(400), redisReadable: true, queues: [AlertQueueObservation(name: "q", pending: 400, limited: true)],
                                   jobTimeout: .seconds(600), memoryLimitBytes: 0).isEmpty, "a shrinking backlog is fine")
    }

    @Test("stuck_job past 80 % of --job-timeout; no_progress after 5 min without a completion; worker_memory after 2 polls over 90 %")
    mutating func otherRules() {
        #expect(poll(0, [AlertQueueObservation(name: "q", oldestJobAgeSeconds: 481)]).map(\.rule) == [.stuckJob])
        var e = AlertEngine()
        let busy = AlertQueueObservation(name: "q", pending: 5, doneTotal: 7, busyWorkers: 2)
        #expect(e.evaluate(now: t0, redisReadable: true, queues: [busy], jobTimeout: .seconds(600), memoryLimitBytes: 0).isEmpty)
        #expect(e.evaluate(now: t0 + .seconds(300), redisReadable: true, queues: [busy], jobTimeout: .seconds(600), memoryLimitBytes: 0).map(\.rule) == [.noProgress])
        var m = AlertEngine()
        let heavy = AlertQueueObservation(name: "q", workerMemory: [1: 95 << 20, 2: 10 << 20])
        #expect(m.evaluate(now: t0, redisReadable: true, queues: [heavy], jobTimeout: .seconds(600), memoryLimitBytes: 100 << 20).isEmpty)
        let over = m.evaluate(now: t0 + .seconds(1), redisReadable: true, queues: [heavy], jobTimeout: .seconds(600), memoryLimitBytes: 100 << 20)
        #expect(over.map(\.rule) == [.workerMemory] && over.first?.message.contains("q-1") == true)
    }

    @Test("a disabled rule never notifies")
    mutating func disabled() {
        engine.settings.disabled = [.stuckJob]
        #expect(poll(0, [AlertQueueObservation(name: "q", oldestJobAgeSeconds: 599)]).isEmpty)
    }
}

@Suite("per-queue minute history (pure)")
struct QueueHistoryTests {
    func reading(done: Int, pending: Int = 10, durations: [String: Int] = [:]) -> QueueHistory.Reading {
        var r = QueueHistory.Reading()
        r.done = done
        r.pending = pending
        r.durations = durations
        r.busy = 2
        return r
    }

    @Test("the stats counters lost (Redis restarted without persistence): no negative jobs/min, no negative minute; measured again from the next minutes")
    func countersReset() throws {
        var h = QueueHistory()
        let m0: Int64 = 29_000_000 * 60_000
        var done = 0
        for minute in 0...3 {
            done += 300
            _ = h.observe(reading(done: done), wallMilliseconds: m0 + Int64(minute) * 60_000)
        }
        #expect(h.jobsPerMinute(current: done).one == 300)
        #expect(h.observe(reading(done: 5), wallMilliseconds: m0 + 3 * 60_000 + 20_000) == nil, "the reset is not a sample")
        #expect(h.jobsPerMinute(current: 5).one == nil, "unknown, not -295: \(h.jobsPerMinute(current: 5))")
        let observed = h.observe(reading(done: 65), wallMilliseconds: m0 + 4 * 60_000)
        let next = try #require(observed)
        #expect(Dictionary(next, uniquingKeysWith: { $1 })["done"] == "60", "the minute after counts from the reset: \(next)")
        #expect(h.jobsPerMinute(current: 65).one == 60)
    }

    @Test("a sample per finished minute with that minute's counts and duration quantiles; jobs/min over 1, 5 and 15 minutes")
    func minutes() throws {
        var h = QueueHistory()
        let m0: Int64 = 29_000_000 * 60_000
        #expect(h.observe(reading(done: 0), wallMilliseconds: m0) == nil)
        #expect(h.observe(reading(done: 30, durations: ["dur_le_1": 20, "dur_le_5": 10]), wallMilliseconds: m0 + 30_000) == nil, "same minute")
        let observed = h.observe(reading(done: 60, durations: ["dur_le_1": 40, "dur_le_5": 20]), wallMilliseconds: m0 + 60_000)
        let sample = try #require(observed)
        let f = Dictionary(sample, uniquingKeysWith: { $1 })
        #expect(f["done"] == "60" && f["minute"] == "\(m0 + 60_000)" && f["busy"] == "2")
        #expect(f["p50_s"] == "1.0" && f["p95_s"] == "5.0" && f["max_s"] == "5.0", "\(f)")
        #expect(h.jobsPerMinute(current: 90).one == 90 && h.jobsPerMinute(current: 90).five == nil)
        var done = 60
        for minute in 2...6 {
            done += 60
            _ = h.observe(reading(done: done), wallMilliseconds: m0 + Int64(minute) * 60_000)
        }
        #expect(h.jobsPerMinute(current: done).five == 60)
    }
}
