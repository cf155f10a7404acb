import Foundation
import OrchestratorCore
import Testing
import TestSupport

/// Two orchestrators on one prefix under two host ids (loopback; the network-namespace proof
/// with partitions is scripts/fleet-check).
@Suite("several hosts, one fleet (two orchestrators on one machine)", .requiresRedis, .serialized)
struct FleetEndToEndTests {
    @Test("two hosts share --max-total 6 (3 + 3), status lists both, a host with other caps exits 64, one leaving hands its share over")
    func twoHosts() throws {
        let h = try OrchestratorHarness("fleet")
        try h.push("q", count: 3000)
        let args = ["--queue", "q", "--handler", "q=sleep 0.1; cat", "--max-total", "6", "--max-per-queue", "6", "--scale-down-delay", "0"]
        let a = try h.start(args + ["--host-id", "alpha"], env: ["LOG_DIR": "\(h.dir)/alpha"])
        #expect(waitUntil { h.workers(of: a.pid).count == 6 })
        let b = try h.start(args + ["--host-id", "beta"], env: ["LOG_DIR": "\(h.dir)/beta"])
        var counts = (0, 0)
        #expect(waitUntil(timeout: .seconds(10)) {
            counts = (h.workers(of: a.pid).count, h.workers(of: b.pid).count)
            return counts == (3, 3)
        }, "alpha hands 3 slots to beta at once: \(counts)")
        var most = 0
        for _ in 0..<30 {
            most = max(most, h.workers(of: a.pid).count + h.workers(of: b.pid).count)
            usleep(100_000)
        }
        #expect(most <= 6, "never above --max-total 6 in all: \(most)")
        let betaLog = (try? String(contentsOfFile: "\(h.dir)/alpha/orchestrator.log", encoding: .utf8)) ?? ""
        #expect(betaLog.contains("fleet.host_joined host_id=beta"), "\(betaLog)")

        let (code, out) = try runToEnd(TestEnv.orchestrator, ["status", "--json"], env: ["REDIS_URL": TestEnv.redisURL, "QUEUE_PREFIX": h.prefix])
        #expect(code == .exited(0))
        let status = jsonObject(Array(out.utf8))
        let hosts = (status["hosts"] as? [[String: Any]]) ?? []
        #expect(hosts.compactMap { $0["host_id"] as? String } == ["alpha", "beta"], "\(out)")
        #expect(hosts.allSatisfy { $0["capacity"] as? Int == 6 })
        let workerHosts = Set(((status["workers"] as? [[String: Any]]) ?? []).compactMap { $0["host"] as? String })
        #expect(workerHosts == ["alpha", "beta"], "\(workerHosts)")
        let (table, tableOut) = try runToEnd(TestEnv.orchestrator, ["status"], env: ["REDIS_URL": TestEnv.redisURL, "QUEUE_PREFIX": h.prefix])
        #expect(table == .exited(0) && tableOut.contains("fleet of 2 hosts, leader alpha") && tableOut.contains("HOST ID"), "\(tableOut)")

        let (capsCode, capsOut) = try runToEnd(TestEnv.orchestrator, ["--queue", "q", "--handler", "q=cat", "--max-total", "8", "--host-id", "gamma"],
                                               env: ["REDIS_URL": TestEnv.redisURL, "QUEUE_PREFIX": h.prefix, "LOG_DIR": "\(h.dir)/gamma"])
        #expect(capsCode == .exited(64) && capsOut.contains("fleet.caps_differ") && capsOut.contains("max_total=6"), "\(capsOut)")
        let (twinCode, twinOut) = try runToEnd(TestEnv.orchestrator, args + ["--host-id", "beta"],
                                               env: ["REDIS_URL": TestEnv.redisURL, "QUEUE_PREFIX": h.prefix, "LOG_DIR": "\(h.dir)/twin"])
        #expect(twinCode == .exited(73) && twinOut.contains("orchestrator.already_running") && twinOut.contains("pid \(b.pid)"), "\(twinOut)")

        // beta drains and leaves: its leases are released when its workers exit, alpha takes all 6 within a poll or two.
        b.signal(SIGTERM)
        #expect(b.wait() == .exited(0))
        #expect(waitUntil(timeout: .seconds(10)) { h.workers(of: a.pid).count == 6 }, "alpha: \(h.workers(of: a.pid).count)")
        a.signal(SIGTERM)
        #expect(a.wait() == .exited(0))
        #expect(try h.redis.scan(match: QueueKeys.namespace(h.prefix) + "fleet:*").isEmpty, "the fleet's keys are gone with the last host")
    }

    @Test("the fence: Redis gone past --lease-ttl under 3 busy workers: fleet.fenced counts all 3, each exit says fenced (not a crash)")
    func fenceSaysWhatHappened() throws {
        let redis = try PrivateRedis()
        let dir = TestEnv.scratch("fence-lines")
        let c = RedisConnection(endpoint: RedisEndpoint(host: "127.0.0.1", port: redis.port))
        try c.connect()
        try c.lpush("fila:q", strings: ["j1", "j2", "j3"])
        let o = try Launched(TestEnv.orchestrator, ["--queue", "q", "--handler", "q=sleep 60; cat", "--jobs-per-worker", "1", "--lease-ttl", "3s",
                                                    "--log-dir", "\(dir)/logs"],
                             env: ["REDIS_URL": redis.url], outputPath: "\(dir)/out.txt")
        defer { o.killGroup() }
        let log = { (try? String(contentsOfFile: "\(dir)/logs/orchestrator.log", encoding: .utf8)) ?? "" }
        let workers = { ProcessTree.children(of: o.pid).filter { ProcessTree.entry($0).map { !$0.isZombie } ?? false } }
        #expect(waitUntil { workers().count == 3 && ((try? c.llen("fila:q")) ?? 1) == 0 }, "log: \(log())")
        redis.stop()
        #expect(waitUntil { workers().isEmpty && log().components(separatedBy: "SIGKILLed by the lease fence").count - 1 == 3 }, "log: \(log())")
        let text = log()
        let fenced = text.split(separator: "\n").filter { $0.contains("fleet.fenced") }
        #expect(fenced.count == 1 && fenced.first?.contains("workers=3") == true, "one line counting every worker killed: \(fenced)")
        #expect(!text.contains("kind=crashed") && !text.contains("crash_loop"), "a fenced worker did not crash: \(text)")
        try redis.start()
        try c.connect()
        o.signal(SIGTERM)
        #expect(o.wait() == .exited(0))
    }
}
