import Foundation
import OrchestratorCore
import Testing
import TestSupport

/// Attempts belong to a job instance, not to its bytes (identical payloads are legitimate: a
/// daily report, "sync now"), and a job whose worker dies every time still reaches the dead list.
@Suite("job identity and attempts against a real redis-server", .requiresRedis)
struct JobIdentityTests {
    @Test("20 identical payloads on 4 workers, none failing: 20 ok results, every one attempts 1, nothing dead")
    func identicalPayloads() throws {
        let h = try WorkerHarness("same")
        try h.redis.lpush(h.keys.pending, strings: Array(repeating: "sync now", count: 20))
        let workers = try (1...4).map { try h.start(handler: "sleep 0.05; echo done", slot: $0) }
        #expect(waitUntil { (try? h.results().count) == 20 }, "log: \(workers[0].output)")
        for w in workers { w.signal(SIGTERM) }
        for w in workers { #expect(w.wait() == .exited(0)) }
        let results = try h.results()
        #expect(results.count == 20)
        #expect(results.allSatisfy { $0["status"] as? String == "ok" && $0["attempts"] as? Int == 1 }, "\(results)")
        #expect(try h.dead().isEmpty)
        #expect(Set(results.compactMap { $0["job_id"] as? String }) == [SHA1.hex(Array("sync now".utf8))])
    }

    @Test("a dead worker's requeue counts its attempt in the job's envelope; the Lua and Swift formats agree, binary payload included")
    func requeueCountsAttempt() throws {
        let h = try WorkerHarness("envl")
        let payload: [UInt8] = [0x00, 0xFF, 0x0A, 0x1E] + Array(" rpa:1 1 2\nnot a header".utf8)
        try h.redis.lpush(h.keys.pending, [payload])
        let q = RedisJobQueue(redis: h.redis, keys: h.keys, workerID: "ghost-1")
        for expected in 1...2 {
            #expect(try q.pop(timeout: .seconds(1)) != nil)
            #expect(try q.requeue(ownerID: "ghost-1") == 1)
            let element = try #require(try h.redis.lrange(h.keys.pending).first)
            let envelope = JobEnvelope.decode(element)
            #expect(envelope.payload == payload)
            #expect(envelope.attemptsMade == expected)
            #expect(envelope.lastError == "the worker running attempt \(expected) died (killed, crashed or out of memory)")
        }
    }

    @Test("a job whose worker dies on every attempt reaches the dead list after --max-attempts, with a clear error")
    func deathsReachDeadList() throws {
        let h = try WorkerHarness("deaths")
        try h.redis.lpush(h.keys.pending, strings: ["kills its browser and worker"])
        let q = RedisJobQueue(redis: h.redis, keys: h.keys, workerID: "ghost-2")
        for _ in 1...3 {
            _ = try q.pop(timeout: .seconds(1))
            try q.requeue(ownerID: "ghost-2")
        }
        let worker = try h.start(handler: "cat", args: ["--max-attempts", "3"])
        #expect(waitUntil { (try? h.dead().count) == 1 }, "log: \(worker.output)")
        worker.signal(SIGTERM)
        #expect(worker.wait() == .exited(0))
        let dead = try #require(try h.dead().first)
        #expect(dead["attempts"] as? Int == 3)
        #expect(dead["payload"] as? String == "kills its browser and worker")
        #expect((dead["error"] as? String ?? "").contains("gave up after 3 attempt(s): the worker running attempt 3 died"))
        #expect(try h.results().first?["status"] as? String == "failed")
    }

    @Test("a failed attempt is requeued with its count; a plain LPUSH of the same bytes meanwhile starts at attempt 1")
    func failedAttemptKeepsItsOwnCount() throws {
        let h = try WorkerHarness("own")
        let marker = "\(h.dir)/failed-once"
        // The first run of "report" fails; every later run succeeds.
        let handler = "if [ ! -e \(marker) ]; then touch \(marker); exit 1; fi; echo \"$JOB_ATTEMPT\""
        try h.redis.lpush(h.keys.pending, strings: ["report", "report"])
        let worker = try h.start(handler: handler, args: ["--max-attempts", "2"])
        #expect(waitUntil { (try? h.results().count) == 2 }, "log: \(worker.output)")
        worker.signal(SIGTERM)
        #expect(worker.wait() == .exited(0))
        let attempts = try h.results().compactMap { $0["attempts"] as? Int }.sorted()
        #expect(attempts == [1, 2], "one job succeeded first time, the other on its second attempt")
        #expect(try h.dead().isEmpty)
    }
}

@Suite("history in Redis", .requiresRedis)
struct HistoryStorageTests {
    @Test("a day of minute samples costs well under 2 MB per queue (MEMORY USAGE), and MINID trims by age")
    func memoryPerDay() throws {
        let redis = try TestEnv.connect()
        let key = QueueKeys.history(prefix: TestEnv.uniquePrefix("hist"), queue: "conferencia")
        var h = QueueHistory()
        var r = QueueHistory.Reading()
        let start: Int64 = 1_795_000_000_000
        for minute in 0...1440 {
            r.pending = 300 + minute % 97
            r.done += 40 + minute % 13
            r.durations["dur_le_2", default: 0] += 30
            r.durations["dur_le_5", default: 0] += 10
            r.busy = 7; r.target = 7; r.maxPSS = 612_000_000 + minute
            guard let fields = h.observe(r, wallMilliseconds: start + Int64(minute) * 60_000) else { continue }
            var xadd: [RedisArg] = ["XADD", RedisArg(key), RedisArg("\(start + Int64(minute) * 60_000)-0")]
            for (k, v) in fields { xadd += [RedisArg(k), RedisArg(v)] }
            _ = try redis.send(xadd)
        }
        let bytes = try #require(try redis.send(["MEMORY", "USAGE", RedisArg(key), "SAMPLES", "0"]).int)
        print("history: 1440 minute samples of one queue = \(bytes) bytes (\(String(format: "%.2f", Double(bytes) / 1_048_576)) MB)")
        #expect(bytes < 2 << 20)
        _ = try redis.send(["XTRIM", RedisArg(key), "MINID", RedisArg("\(start + 720 * 60_000)")])
        #expect(try redis.send(["XLEN", RedisArg(key)]).int == 721, "minutes 720…1440 stay")
        _ = try redis.send(["DEL", RedisArg(key)])
    }
}
