import Foundation
import OrchestratorCore
import Testing
import TestSupport

@Suite("worker --check: the liveness and readiness probe of a standalone worker (Kubernetes, systemd)", .requiresRedis)
struct WorkerProbeTests {
    @Test("alive while its loop beats (Redis or not); 1 when it stops beating or never started; --check-redis adds a PING")
    func probe() throws {
        let dir = TestEnv.scratch("probe")
        let file = "\(dir)/w.alive"
        let prefix = TestEnv.uniquePrefix("probe")
        let env = ["REDIS_URL": TestEnv.redisURL, "QUEUE_PREFIX": prefix]
        let check = { (extra: [String], env: [String: String]) in
            try runToEnd(TestEnv.worker, ["--check", "--queue", "q", "--slot", "7", "--health-file", file] + extra, env: env)
        }
        let (before, beforeOut) = try check([], env)
        #expect(before == .exited(1) && beforeOut.contains("does not exist"), "\(beforeOut)")
        let w = try Launched(TestEnv.worker, ["--queue", "q", "--slot", "7", "--handler", "cat", "--health-file", file], env: env, outputPath: "\(dir)/w.txt")
        defer { w.signal(SIGKILL); _ = w.wait() }
        #expect(waitUntil { FileManager.default.fileExists(atPath: file) }, "\(w.output)")
        let (alive, aliveOut) = try check(["--check-max-age", "5s"], env)
        #expect(alive == .exited(0) && aliveOut.hasPrefix("ok: last beat"), "\(aliveOut)")
        let (ready, readyOut) = try check(["--check-redis"], env)
        #expect(ready == .exited(0) && readyOut.contains("Redis answers"), "\(readyOut)")
        let (unready, unreadyOut) = try check(["--check-redis"], ["REDIS_URL": "redis://127.0.0.1:1/0"])
        #expect(unready == .exited(1) && unreadyOut.contains("not ready"), "\(unreadyOut)")
        // A stuck loop (SIGSTOP) stops beating: the probe fails once the beat is older than --check-max-age.
        w.signal(SIGSTOP)
        #expect(waitUntil(timeout: .seconds(10)) { (try? check(["--check-max-age", "3s"], env))?.0 == .exited(1) })
        let (_, staleOut) = try check(["--check-max-age", "3s"], env)
        #expect(staleOut.contains("not alive: last beat"), "\(staleOut)")
        w.signal(SIGCONT)
        #expect(waitUntil { (try? check(["--check-max-age", "3s"], env))?.0 == .exited(0) }, "beats again")
        let (bad, badOut) = try check(["--check-max-age", "soon"], env)
        #expect(bad == .exited(64) && badOut.contains("--check-max-age"), "\(badOut)")
    }
}
