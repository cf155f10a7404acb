import OrchestratorCore
import Testing

@Suite("ScaleDecision: the seed's rebalance lines rendered from values, byte for byte")
struct ScaleDecisionTests {
    typealias D = ScaleDecision

    static let table: [(D, String)] = [
        (D(queue: "conferencia", direction: .up, pending: 322, from: 0, to: 7),
         "[ESCALAR] conferencia: 322 jobs → criando 7 worker(s) (total: 0 → 7)"),
        (D(queue: "q", direction: .down, pending: 20, from: 3, to: 1),
         "[REDUZIR] q: 20 jobs → 2 worker(s) em excesso (total: 3 → 1)"),
        (D(queue: "q", direction: .steady, pending: 80, from: 2, to: 2),
         "[EQUILIBRIO] q: 80 jobs → 2 worker(s) ativo(s). Sem mudanças."),
        (D(queue: "a", direction: .down, pending: 900, from: 2, to: 0, reasons: [.paused]),
         "[REDUZIR] a: 900 jobs → 2 worker(s) em excesso (total: 2 → 0); queue paused"),
        (D(queue: "ok", direction: .up, pending: 500, from: 0, to: 2, reasons: [.limit(.maxTotal(wanted: 10, cap: 5))]),
         "[ESCALAR] ok: 500 jobs → criando 2 worker(s) (total: 0 → 2); limited by --max-total 5 (wanted 10)"),
        (D(queue: "b", direction: .up, pending: 200, from: 0, to: 2, reasons: [.waitingForSlots(2, maxTotal: 4)]),
         "[ESCALAR] b: 200 jobs → criando 2 worker(s) (total: 0 → 2); waiting for 2 slot(s) under --max-total 4"),
        (D(queue: "q", direction: .up, pending: 900, from: 1, to: 3,
           reasons: [.adaptive(note: "(adaptive: 1.8 jobs/s/worker, drain 4m10s)"), .limit(.maxPerQueue(wanted: 12, cap: 3)),
                     .drainUnmet(workers: 3, wanted: 12, eta: "never (arrivals outpace it)"),
                     .fleet(target: 6, hosts: 3, share: 3, host: "h2")]),
         "[ESCALAR] q: 900 jobs → criando 2 worker(s) (total: 1 → 3) (adaptive: 1.8 jobs/s/worker, drain 4m10s)"
            + "; limited by --max-per-queue 3 (wanted 12)"
            + "; the drain target cannot be met under the caps (3 of 12 workers: drain in never (arrivals outpace it))"
            + "; fleet target 6 on 3 hosts, this host's share 3 (h2)"),
    ]

    @Test("each decision renders its line word for word, reasons in order", arguments: table.indices)
    func renders(_ i: Int) {
        let (decision, line) = Self.table[i]
        #expect(decision.line == line)
    }

    @Test("each direction has its stable JSON event")
    func events() {
        #expect(D(queue: "q", direction: .up, pending: 1, from: 0, to: 1).event == "scale.up")
        #expect(D(queue: "q", direction: .down, pending: 0, from: 1, to: 0).event == "scale.down")
        #expect(D(queue: "q", direction: .steady, pending: 1, from: 1, to: 1).event == "scale.steady")
    }

    @Test("a plan's decisions carry the queue, direction and counts the supervisor applies")
    func planDecisions() {
        let plan = Reconcile(policy: ScalingPolicy(), summaryInterval: .seconds(60))
            .plan(queues: [QueueSnapshot(name: "conferencia", pending: 322)], workers: [], now: ContinuousClock().now)
        #expect(plan.decisions == [D(queue: "conferencia", direction: .up, pending: 322, from: 0, to: 7)])
        #expect(plan.lines == plan.decisions.map(\.line))
    }
}
