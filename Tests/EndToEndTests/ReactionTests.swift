import Foundation
import OrchestratorCore
import Testing
import TestSupport

@Suite("reaction between polls", .requiresRedis)
struct ReactionTests {
    @Test("a burst between polls is answered by the 100 ms peek, not at the next poll (--poll-interval 30s: workers long before it)")
    func peekBringsPollForward() throws {
        let h = try OrchestratorHarness("peek")
        let o = try h.start(["--queue", "conferencia", "--handler", "conferencia=sleep 30", "--poll-interval", "30s", "--drain-timeout", "1"])
        #expect(waitUntil { h.log.contains("orchestrator.ready") })
        usleep(1_500_000)  // past the first poll: the next one is ~28 s away
        try h.push("conferencia", count: 322)
        #expect(waitUntil(timeout: .seconds(10)) { h.workers(of: o.pid).count == 7 }, "log: \(h.log)")
        #expect(h.log.contains("[ESCALAR] conferencia: 322 jobs → criando 7 worker(s) (total: 0 → 7)"))
        o.signal(SIGTERM)
        #expect(o.wait() == .exited(0))
    }

    @Test("leases are renewed between polls: --poll-interval 10s with --lease-ttl 3s keeps its busy workers (no fencing)")
    func renewalBetweenPolls() throws {
        let h = try OrchestratorHarness("renew")
        try h.push("conferencia", count: 60)
        let o = try h.start(["--queue", "conferencia", "--handler", "conferencia=sleep 30", "--poll-interval", "10s", "--lease-ttl", "3s",
                             "--drain-timeout", "1"])
        #expect(waitUntil { h.workers(of: o.pid).count == 2 }, "log: \(h.log)")
        let pids = Set(h.workers(of: o.pid).map(\.pid))
        #expect(holds(for: .seconds(7)) { Set(h.workers(of: o.pid).map(\.pid)) == pids }, "log: \(h.log)")
        #expect(!h.log.contains("fleet.renewal_failed") && !h.log.contains("fleet.fenced"), "log: \(h.log)")
        o.signal(SIGTERM)
        #expect(o.wait() == .exited(0))
    }
}
