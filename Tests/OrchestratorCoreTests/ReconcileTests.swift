import OrchestratorCore
import Testing

@Suite("Reconcile: read → plan → apply, the plan part (pure)")
struct ReconcileTests {
    let t0 = ContinuousClock().now
    let reconcile = Reconcile(policy: ScalingPolicy(), summaryInterval: .seconds(60))

    func worker(_ pid: Int32, _ queue: String, busy: Bool = false, draining: Bool = false, age: Int = 100) -> WorkerSnapshot {
        WorkerSnapshot(pid: pid, queue: queue, isBusy: busy, isDraining: draining, startedAt: t0 - .seconds(age))
    }

    @Test("the seed's scenario from nothing: 7 + 1 spawns and the seed's lines word for word")
    func seedScenario() {
        let plan = reconcile.plan(queues: [QueueSnapshot(name: "conferencia", pending: 322), QueueSnapshot(name: "emissao", pending: 3)],
                                  workers: [], now: t0)
        #expect(plan.spawns == Array(repeating: "conferencia", count: 7) + ["emissao"])
        #expect(plan.lines == ["[ESCALAR] conferencia: 322 jobs → criando 7 worker(s) (total: 0 → 7)",
                               "[ESCALAR] emissao: 3 jobs → criando 1 worker(s) (total: 0 → 1)"])
        #expect(plan.queues["conferencia"]?.target.allotted == 7 && plan.queues["conferencia"]?.lastSummary == t0)
    }

    @Test("a lower target waits for --scale-down-delay, then drains the excess, idle newest first")
    func scaleDownDelayIdleFirst() {
        let workers = [worker(1, "q", busy: true, age: 300), worker(2, "q", age: 200), worker(3, "q", age: 10)]
        let first = reconcile.plan(queues: [QueueSnapshot(name: "q", pending: 20, lastSummary: t0)], workers: workers, now: t0)
        #expect(first.actions.isEmpty && first.queues["q"]?.lowerTargetSince == t0)
        let later = reconcile.plan(queues: [QueueSnapshot(name: "q", pending: 20, lowerTargetSince: t0, lastSummary: t0)],
                                   workers: workers, now: t0 + .seconds(30))
        #expect(later.actions.isEmpty && later.queues["q"]?.lowerTargetSince == t0, "the timer keeps its start")
        let due = reconcile.plan(queues: [QueueSnapshot(name: "q", pending: 20, lowerTargetSince: t0, lastSummary: t0)],
                                 workers: workers, now: t0 + .seconds(60))
        #expect(due.terminations == [3, 2], "idle ones first, newest first; the busy one stays")
        #expect(due.lines == ["[REDUZIR] q: 20 jobs → 2 worker(s) em excesso (total: 3 → 1)"])
        #expect(due.queues["q"]?.lowerTargetSince == nil)
    }

    @Test("a paused queue drains at once (no delay), says so, and leaves its share to the others")
    func paused() {
        let r = Reconcile(policy: ScalingPolicy(maxPerQueue: 10, maxTotal: 10), summaryInterval: .seconds(60))
        let plan = r.plan(queues: [QueueSnapshot(name: "a", pending: 900, isPaused: true), QueueSnapshot(name: "b", pending: 900)],
                          workers: [worker(1, "a"), worker(2, "a", busy: true)], now: t0)
        #expect(plan.terminations == [1, 2])
        #expect(plan.lines.first == "[REDUZIR] a: 900 jobs → 2 worker(s) em excesso (total: 2 → 0); queue paused")
        #expect(plan.queues["a"]?.target == QueueTarget(demand: 0, allotted: 0))
        #expect(plan.queues["b"]?.target.allotted == 10)
        #expect(plan.spawns.count == 8, "the two draining still hold slots of --max-total 10")
    }

    @Test("an unreadable key (WRONGTYPE) holds its workers, logs nothing, and its workers stay out of the others' share")
    func unreadableHolds() {
        let r = Reconcile(policy: ScalingPolicy(maxPerQueue: 10, maxTotal: 5), summaryInterval: .seconds(60))
        let plan = r.plan(queues: [QueueSnapshot(name: "bad", pending: 0, isReadable: false), QueueSnapshot(name: "ok", pending: 500)],
                          workers: [worker(1, "bad"), worker(2, "bad"), worker(3, "bad")], now: t0)
        #expect(plan.terminations.isEmpty)
        #expect(plan.queues["bad"]?.target == QueueTarget(demand: 3, allotted: 3))
        #expect(plan.spawns == ["ok", "ok"])
        #expect(plan.lines == ["[ESCALAR] ok: 500 jobs → criando 2 worker(s) (total: 0 → 2); limited by --max-total 5 (wanted 10)"])
    }

    @Test("Redis unreadable: every queue unreadable, nothing starts or stops")
    func redisDown() {
        let plan = reconcile.plan(queues: [QueueSnapshot(name: "a", pending: 0, isReadable: false), QueueSnapshot(name: "b", pending: 0, isReadable: false)],
                                  workers: [worker(1, "a"), worker(2, "b")], now: t0)
        #expect(plan.actions.isEmpty && plan.lines.isEmpty)
    }

    @Test("--max-total counts draining workers: only the free slots start, and the line says how many wait")
    func totalCapWithDraining() {
        let r = Reconcile(policy: ScalingPolicy(maxPerQueue: 4, maxTotal: 4), summaryInterval: .seconds(60))
        let plan = r.plan(queues: [QueueSnapshot(name: "a", pending: 0, lastSummary: t0), QueueSnapshot(name: "b", pending: 200)],
                          workers: [worker(1, "a", draining: true), worker(2, "a", draining: true)], now: t0)
        #expect(plan.spawns == ["b", "b"])
        #expect(plan.lines == ["[ESCALAR] b: 200 jobs → criando 2 worker(s) (total: 0 → 2); waiting for 2 slot(s) under --max-total 4"])
    }

    @Test("the total cap takes workers from one queue for another at once, without the delay")
    func totalCapShrinksAtOnce() {
        let r = Reconcile(policy: ScalingPolicy(maxPerQueue: 4, maxTotal: 4), summaryInterval: .seconds(60))
        let plan = r.plan(queues: [QueueSnapshot(name: "a", pending: 500), QueueSnapshot(name: "b", pending: 500)],
                          workers: (1...4).map { worker($0, "a") }, now: t0)
        #expect(plan.terminations.count == 2)
        #expect(plan.lines.first == "[REDUZIR] a: 500 jobs → 2 worker(s) em excesso (total: 4 → 2); limited by --max-total 4 (wanted 4)")
        #expect(plan.spawns.isEmpty, "b waits for the drained slots")
    }

    @Test("crash backoff: no start before it expires, then the start happens")
    func backoff() {
        let q = QueueSnapshot(name: "q", pending: 100, backoffUntil: t0 + .seconds(4), lastSummary: t0)
        let early = reconcile.plan(queues: [q], workers: [], now: t0 + .seconds(1))
        #expect(early.actions.isEmpty && early.queues["q"]?.heldByBackoff == true)
        let after = reconcile.plan(queues: [q], workers: [], now: t0 + .seconds(4))
        #expect(after.spawns == ["q", "q"])
    }

    @Test("[EQUILIBRIO] is logged when nothing changes, at most once per --interval")
    func steadySummary() {
        let workers = [worker(1, "q"), worker(2, "q")]
        let first = reconcile.plan(queues: [QueueSnapshot(name: "q", pending: 80)], workers: workers, now: t0)
        #expect(first.lines == ["[EQUILIBRIO] q: 80 jobs → 2 worker(s) ativo(s). Sem mudanças."])
        let soon = reconcile.plan(queues: [QueueSnapshot(name: "q", pending: 80, lastSummary: t0)], workers: workers, now: t0 + .seconds(59))
        #expect(soon.lines.isEmpty && soon.queues["q"]?.lastSummary == t0)
        let due = reconcile.plan(queues: [QueueSnapshot(name: "q", pending: 80, lastSummary: t0)], workers: workers, now: t0 + .seconds(60))
        #expect(due.lines.count == 1)
    }
}
