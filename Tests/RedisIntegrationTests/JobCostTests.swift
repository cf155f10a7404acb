import Foundation
import OrchestratorCore
import Testing
import TestSupport

/// What a job costs in Redis, counted by the server (Lua inside included): a private
/// redis-server, so nobody else's commands are in the count.
@Suite("cost per job against a private redis-server", .requiresRedis)
struct JobCostTests {
    @Test("a worker working through a backlog costs 5 Redis commands per job (LMOVE, EVALSHA and its DEL, LPUSH, HINCRBY), durations and all")
    func commandsPerJob() throws {
        let redis = try PrivateRedis()
        defer { redis.stop() }
        let c = RedisConnection(endpoint: RedisEndpoint(host: "127.0.0.1", port: redis.port))
        try c.connect()
        let jobs = 2000
        try c.lpush("fila:hold", strings: (1...jobs).map { "job-\($0)" })
        let handler = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("examples/handlers/persistent-echo.sh").path
        let w = try Launched(TestEnv.worker, ["--queue", "q", "--slot", "1", "--handler", handler, "--handler-mode", "persistent"],
                             env: ["REDIS_URL": redis.url], outputPath: TestEnv.scratch("cost") + "/worker.log")
        #expect(waitUntil { (try? c.scan(match: "orchestrator:fila:worker:*").count) == 1 })
        usleep(300_000)
        let before = try commandsProcessed(c)
        _ = try c.send(["RENAME", "fila:hold", "fila:q"])
        var polls = 0  // our own LLENs, subtracted below
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            usleep(200_000)
            polls += 1
            if try c.llen("fila:q:results") == jobs { break }
        }
        usleep(300_000)  // the worker finds the queue empty: heartbeat idle, durations flushed
        let after = try commandsProcessed(c)
        w.signal(SIGTERM)
        #expect(w.wait() == .exited(0))
        // Ours: RENAME, the LLENs, the two INFO calls. What is left over 5 per job is the worker's
        // periodic work (heartbeat, duration batches, a standalone worker's housekeeping).
        let perJob = Double(after - before - 3 - polls) / Double(jobs)
        #expect(perJob <= 5.1, "Redis commands per job: \(perJob)")
        let stats = try c.send(["HGETALL", "orchestrator:fila:stats:q"]).fields
        let histogram = JobDuration.histogram(stats)
        #expect(Int(stats["done"] ?? "") == jobs && histogram.count == jobs, "every job's duration reaches the stats: \(stats)")
        #expect(try c.send(["HGET", RedisArg(try c.scan(match: "orchestrator:fila:worker:*").first ?? "none"), "state"]).text == nil,
                "the heartbeat is gone with the worker")
    }

    @Test("a job running past 250 ms shows busy with its start time; the worker shows idle again once the queue is empty")
    func busyMarking() throws {
        let h = try WorkerHarness("busy")
        let w = try h.start(handler: "sleep 1.5; echo ok")
        #expect(waitUntil { (try? h.heartbeatState(pid: w.pid)) == "idle" })
        try h.redis.lpush(h.keys.pending, strings: ["slow"])
        var fields: [String: String] = [:]
        #expect(waitUntil(timeout: .seconds(1.2)) {
            fields = (try? h.redis.send(["HGETALL", RedisArg(QueueKeys.heartbeat(prefix: h.prefix, "q-1-\(WallClock.hostName())-\(w.pid)"))]).fields) ?? [:]
            return fields["state"] == "busy"
        }, "busy within the job: \(fields)")
        #expect(Int64(fields["job_started_at"] ?? "") ?? 0 > 0)
        #expect(waitUntil { (try? h.results().count) == 1 })
        #expect(waitUntil(timeout: .seconds(8)) { (try? h.heartbeatState(pid: w.pid)) == "idle" })
        w.signal(SIGTERM)
        #expect(w.wait() == .exited(0))
    }

    func commandsProcessed(_ c: RedisConnection) throws -> Int {
        let info = try c.send(["INFO", "stats"]).text ?? ""
        return info.split(separator: "\r\n").first { $0.hasPrefix("total_commands_processed:") }.flatMap { Int($0.split(separator: ":")[1]) } ?? 0
    }
}
