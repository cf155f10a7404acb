import Foundation
import OrchestratorCore
import Testing
import TestSupport

@Suite("adaptive scaling with real workers", .requiresRedis, .serialized)
struct AdaptiveScalingEndToEndTests {
    @Test("600 jobs of 0.2 s, --drain-target 30s: the rate is measured, the target settles where it implies, the queue drains in 30 s ± 30 %")
    func drainTarget() throws {
        let h = try OrchestratorHarness("adapt")
        try h.push("q", count: 600)
        let clock = ContinuousClock()
        let start = clock.now
        let o = try h.start(["--queue", "q", "--handler", "q=sleep 0.2", "--scaling", "adaptive", "--drain-target", "30s",
                             "--max-per-queue", "10", "--scale-down-delay", "2"])
        // Mid-run (after the warm-up), status shows the measured rate and the target it implies.
        let env = ["REDIS_URL": TestEnv.redisURL, "QUEUE_PREFIX": h.prefix]
        var queue: [String: Any] = [:]
        #expect(waitUntil(timeout: .seconds(25)) {
            guard clock.now - start > .seconds(14), let (_, json) = try? runToEnd(TestEnv.orchestrator, ["status", "--json"], env: env) else { return false }
            queue = (jsonObject(Array(json.utf8))["queues"] as? [[String: Any]])?.first ?? [:]
            return queue["service_rate_per_worker"] is Double
        }, "log: \(h.log)")
        let rate = queue["service_rate_per_worker"] as? Double ?? 0
        let pending = queue["pending"] as? Int ?? 0, target = queue["target"] as? Int ?? 0
        // 1 job per 0.2 s of sleep plus the spawn: ~4-5 jobs/s per worker.
        #expect(rate > 3 && rate < 6, "rate \(rate)")
        // What the rate implies at that moment: pending / (rate × seconds left of the 30 s deadline).
        let left = max(30 - (clock.now - start).seconds, 3)
        let implied = rate > 0 ? Int((Double(pending) / (rate * left)).rounded(.up)) : -1  // no rate: the expectation above already failed
        #expect(abs(target - implied) <= 2 && target <= 6, "target \(target), implied \(implied) (pending \(pending), \(left) s left)")
        #expect(waitUntil(timeout: .seconds(60)) { (try? h.results("q").count) == 600 }, "log: \(h.log)")
        let drained = (clock.now - start).seconds
        #expect(drained >= 21 && drained <= 39, "drained in \(drained) s")
        #expect(h.log.contains("(adaptive: ") && h.log.contains("jobs/s/worker, drain"), "log: \(h.log)")
        o.signal(SIGTERM)
        #expect(o.wait() == .exited(0))
        let stored = try h.redis.send(["HGET", RedisArg(QueueKeys.rates(prefix: h.prefix)), "q"]).text ?? ""
        #expect(QueueRates(encoded: stored)?.serviceRate != nil, "the rates survive a restart: \(stored)")
    }

    @Test("--drain-target without --scaling adaptive, or under 1 s, exits 64 naming the flag")
    func badInput() throws {
        let h = try OrchestratorHarness("adaptbad")
        let env = ["REDIS_URL": TestEnv.redisURL, "QUEUE_PREFIX": h.prefix]
        let (a, aOut) = try runToEnd(TestEnv.orchestrator, ["--queue", "q", "--handler", "q=cat", "--drain-target", "30s", "--log-dir", h.logDir], env: env)
        #expect(a == .exited(64) && aOut.contains("--drain-target: only with --scaling adaptive"), "\(aOut)")
        let (b, bOut) = try runToEnd(TestEnv.orchestrator, ["--queue", "q", "--handler", "q=cat", "--scaling", "adaptive", "--drain-target", "0",
                                                            "--log-dir", h.logDir], env: env)
        #expect(b == .exited(64) && bOut.contains("--drain-target: must be at least 1s"), "\(bOut)")
        let (c, cOut) = try runToEnd(TestEnv.orchestrator, ["--queue", "q", "--handler", "q=cat", "--scaling", "smart", "--log-dir", h.logDir], env: env)
        #expect(c == .exited(64) && cOut.contains("--scaling: expected fixed or adaptive"), "\(cOut)")
    }
}
