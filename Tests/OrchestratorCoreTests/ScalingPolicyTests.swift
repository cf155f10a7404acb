import OrchestratorCore
import Testing

@Suite("ScalingPolicy (pure)")
struct ScalingPolicyTests {
    let policy = ScalingPolicy()

    @Test("the seed's table: ceil(pending / 50), at most 10 per queue",
          arguments: [(0, 0), (1, 1), (25, 1), (50, 1), (51, 2), (100, 2), (101, 3), (150, 3), (322, 7), (500, 10), (1000, 10)])
    func seedTable(pending: Int, workers: Int) {
        #expect(policy.demand(pending: pending) == workers)
        #expect(policy.targets(pending: ["conferencia": pending])["conferencia"]?.allotted == workers)
    }

    @Test("the seed's scenario: 322 conferencia + 3 emissao = 7 + 1")
    func seedScenario() {
        let t = policy.targets(pending: ["conferencia": 322, "emissao": 3])
        #expect(t["conferencia"]?.allotted == 7)
        #expect(t["emissao"]?.allotted == 1)
        #expect(t["conferencia"]?.limitedBy == nil)
    }

    @Test("--min-per-queue is a floor, --max-per-queue a cap, and the cap is named")
    func floorsAndCaps() {
        let p = ScalingPolicy(minPerQueue: 2, maxPerQueue: 4, maxTotal: 20)
        #expect(p.demand(pending: 0) == 2)
        #expect(p.demand(pending: 1000) == 4)
        #expect(p.targets(pending: ["a": 1000])["a"]?.limitedBy == .maxPerQueue(wanted: 20, cap: 4))
    }

    @Test("3 queues × 600 jobs under --max-total 20: 7/7/6, never above the caps")
    func fairShareThreeQueues() {
        let t = policy.targets(pending: ["a": 600, "b": 600, "c": 600])
        let allotted = t.values.map(\.allotted)
        #expect(allotted.reduce(0, +) == 20)
        #expect(allotted.allSatisfy { $0 >= 6 && $0 <= 10 })
        #expect(t["a"]?.allotted == 7 && t["b"]?.allotted == 7 && t["c"]?.allotted == 6)
        #expect(t["c"]?.limitedBy == .maxTotal(wanted: 10, cap: 20))
    }

    @Test("water-filling: a small queue gets all it asks for, the big ones share the rest")
    func waterFilling() {
        let t = policy.targets(pending: ["big1": 5000, "big2": 5000, "small": 60])
        #expect(t["small"]?.allotted == 2)
        #expect(t["big1"]?.allotted == 9)
        #expect(t["big2"]?.allotted == 9)
    }

    @Test("no queue with pending jobs starves, even with more queues than --max-total")
    func noStarvation() {
        let p = ScalingPolicy(maxPerQueue: 3, maxTotal: 4)
        let t = p.targets(pending: ["a": 1, "b": 900, "c": 900, "d": 900])
        #expect(t.values.allSatisfy { $0.allotted == 1 })
    }

    @Test("ties are broken deterministically: more pending first, then by name")
    func deterministicTies() {
        let p = ScalingPolicy(maxPerQueue: 10, maxTotal: 5)
        let first = p.targets(pending: ["x": 500, "y": 500, "z": 600])
        #expect(first["z"]?.allotted == 2 && first["x"]?.allotted == 2 && first["y"]?.allotted == 1)
        for _ in 0..<20 { #expect(p.targets(pending: ["x": 500, "y": 500, "z": 600]) == first) }
    }

    @Test("scale up at once")
    func growsAtOnce() {
        let now = ContinuousClock.now
        let input = ScalingInput(target: QueueTarget(demand: 7, allotted: 7), active: 2, lowerTargetSince: nil, now: now)
        #expect(policy.decide(input) == .grow(by: 5))
    }

    @Test("a lower target must hold for --scale-down-delay before draining")
    func scaleDownDelay() {
        let p = ScalingPolicy(scaleDownDelay: .seconds(60))
        let t0 = ContinuousClock.now
        let target = QueueTarget(demand: 1, allotted: 1)
        #expect(p.decide(ScalingInput(target: target, active: 7, lowerTargetSince: nil, now: t0)) == .waitToShrink(until: t0 + .seconds(60)))
        #expect(p.decide(ScalingInput(target: target, active: 7, lowerTargetSince: t0, now: t0 + .seconds(59))) == .waitToShrink(until: t0 + .seconds(60)))
        #expect(p.decide(ScalingInput(target: target, active: 7, lowerTargetSince: t0, now: t0 + .seconds(60))) == .shrink(by: 6))
    }

    @Test("when --max-total takes workers for another queue, shrink without delay")
    func capForcedShrinkIsImmediate() {
        let now = ContinuousClock.now
        let input = ScalingInput(target: QueueTarget(demand: 10, allotted: 7, limitedBy: .maxTotal(wanted: 10, cap: 20)),
                                 active: 10, lowerTargetSince: nil, now: now)
        #expect(policy.decide(input) == .shrink(by: 3))
    }

    @Test("equal target holds")
    func holds() {
        let input = ScalingInput(target: QueueTarget(demand: 3, allotted: 3), active: 3, lowerTargetSince: nil, now: .now)
        #expect(policy.decide(input) == .hold)
    }

    @Test("scale-down picks idle workers first (newest first), busy ones only when no idle one is left")
    func pickToStop() {
        let t = ContinuousClock.now
        let workers = [
            WorkerCandidate(pid: 1, isBusy: true, startedAt: t),
            WorkerCandidate(pid: 2, isBusy: false, startedAt: t + .seconds(1)),
            WorkerCandidate(pid: 3, isBusy: true, startedAt: t + .seconds(2)),
            WorkerCandidate(pid: 4, isBusy: false, startedAt: t + .seconds(3)),
        ]
        #expect(ScalingPolicy.pickToStop(workers, count: 1) == [4])
        #expect(ScalingPolicy.pickToStop(workers, count: 2) == [4, 2])
        #expect(ScalingPolicy.pickToStop(workers, count: 3) == [4, 2, 3])
        #expect(ScalingPolicy.pickToStop(workers, count: 9) == [4, 2, 3, 1])
        #expect(ScalingPolicy.pickToStop(workers, count: 0) == [])
    }
}
