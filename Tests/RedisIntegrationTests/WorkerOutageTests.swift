import Foundation
import OrchestratorCore
import Testing
import TestSupport

@Suite("standalone worker across a Redis restart", .requiresRedis)
struct WorkerOutageTests {
    @Test("after an outage a standalone worker's recovery waits a full period: a live owner whose heartbeat expired meanwhile keeps its job")
    func recoveryWaitsAfterOutage() throws {
        let redis = try PrivateRedis()
        let dir = TestEnv.scratch("worker-outage")
        let worker = try Launched(TestEnv.worker, ["--queue", "q", "--slot", "1", "--handler", "cat"],
                                  env: ["REDIS_URL": redis.url], outputPath: "\(dir)/worker.log")
        defer { worker.signal(SIGKILL) }
        #expect(waitUntil { worker.output.contains("worker.ready") }, "\(worker.output)")  // its first recovery pass is done
        let clock = ContinuousClock()
        redis.stop()
        #expect(holds(for: .seconds(10)) { worker.status == nil }, "\(worker.output)")
        try redis.start()
        // Another worker was busy through the outage: its heartbeat expired, and it writes it
        // again within 2 s of reconnecting. Without the wait, the recovery due 15 s after the
        // start (while the outage lasted 10 s) takes its job, which then runs twice.
        let c = RedisConnection(endpoint: RedisEndpoint(host: "127.0.0.1", port: redis.port))
        try c.connect()
        let keys = QueueKeys(prefix: "fila:", queue: "q")
        _ = try c.send(["RPUSH", RedisArg(keys.processing("q-2-elsewhere-7")), "job-busy"])
        #expect(waitUntil { worker.output.contains("redis.up") }, "\(worker.output)")
        let reconnected = clock.now
        #expect(holds(for: .seconds(11)) { ((try? c.llen(keys.processing("q-2-elsewhere-7"))) ?? 0) == 1 },
                "taken \(clock.now - reconnected) after the worker reconnected; \(worker.output)")
        worker.signal(SIGTERM)
        #expect(worker.wait() == .exited(0))
        redis.stop()
    }
}
