import Foundation
import OrchestratorCore
import Testing
import TestSupport

@Suite("Redis restart under busy workers", .requiresRedis, .serialized)
struct RedisRestartTests {
    /// How long redis-server stays down: the README promises that an outage this long changes no worker.
    static let outage: Duration = .seconds(10)

    @Test("a 10 s Redis restart (SHUTDOWN SAVE, start again) under 8 busy workers at the default --lease-ttl changes no worker and re-runs no job")
    func restartUnderBusyWorkers() throws {
        let redis = try PrivateRedis()
        let dir = TestEnv.scratch("restart")
        let c = RedisConnection(endpoint: RedisEndpoint(host: "127.0.0.1", port: redis.port))
        try c.connect()
        let payloads = (1...96).map { "job-\($0)" }
        try c.lpush("fila:conferencia", strings: payloads)
        let o = try Launched(TestEnv.orchestrator, ["--queue", "conferencia", "--handler", "conferencia=sleep 2; cat", "--jobs-per-worker", "1",
                                                    "--max-per-queue", "8", "--log-dir", "\(dir)/logs"],
                             env: ["REDIS_URL": redis.url], outputPath: "\(dir)/out.txt")
        let log = { (try? String(contentsOfFile: "\(dir)/logs/orchestrator.log", encoding: .utf8)) ?? "" }
        let workers = { Set(ProcessTree.children(of: o.pid).filter { ProcessTree.entry($0).map { !$0.isZombie } ?? false }) }
        let busy = {
            ((try? c.scan(match: "orchestrator:fila:worker:*").filter { (try? c.send(["HGET", RedisArg($0), "state"]).text) == "busy" }.count) ?? 0)
        }
        #expect(waitUntil { workers().count == 8 && busy() == 8 }, "log: \(log())")
        let before = workers()

        _ = try? c.send(["SHUTDOWN", "SAVE"])  // the reply is the closed connection
        redis.stop()
        #expect(holds(for: Self.outage) { workers() == before }, "log: \(log())")
        try redis.start()
        try c.connect()

        #expect(waitUntil(timeout: .seconds(90)) { ((try? c.llen("fila:conferencia:results")) ?? 0) >= payloads.count }, "log: \(log())")
        #expect(workers() == before, "the same 8 worker processes before and after; log: \(log())")
        let text = log()
        for event in ["fleet.lease_expiring", "fleet.fenced", "fleet.lease_lost", "worker.draining", "worker.killed", "encerrado", "drain.begin", "job.recovered"] {
            #expect(!text.contains(event), "\(event) in the log: \(text)")
        }
        #expect(text.components(separatedBy: "iniciado").count - 1 == 8, "log: \(text)")
        #expect(text.components(separatedBy: "fleet.renewal_failed").count - 1 == 1, "log: \(text)")
        #expect(text.components(separatedBy: "fleet.renewal_resumed").count - 1 == 1, "log: \(text)")
        // Every job exactly one result, at its first attempt: none was run twice.
        let results = try c.lrange("fila:conferencia:results").map(jsonObject)
        var perPayload: [String: Int] = [:]
        for r in results { perPayload[r["payload"] as? String ?? "?", default: 0] += 1 }
        #expect(perPayload == Dictionary(uniqueKeysWithValues: payloads.map { ($0, 1) }), "results per payload: \(perPayload)")
        #expect(results.allSatisfy { $0["status"] as? String == "ok" && $0["attempts"] as? Int == 1 })
        if let line = text.split(separator: "\n").first(where: { $0.contains("redis.up") }) { print("orchestrator: \(line)") }

        o.signal(SIGTERM)
        #expect(o.wait() == .exited(0))
        redis.stop()
    }
}
