import Foundation
import OrchestratorCore
import Testing
import TestSupport

/// Jobs enqueued with their own instance id (the Python `Client`'s envelope
/// `\u{1E}rpa:1 0 0 <id>\n<payload>`): the id survives a failed attempt, a dead worker's recovery
/// and the dead list, and the result is stored by it for `--result-ttl`.
@Suite("per-instance job ids and results by id, against a real redis-server", .requiresRedis)
struct InstanceIDTests {
    static func element(_ id: String, _ payload: String) -> [UInt8] {
        JobEnvelope(instanceID: id, payload: Array(payload.utf8)).encoded()
    }

    @Test("a dead worker's recovery (the Lua script) keeps the instance id and counts the attempt")
    func recoveryKeepsID() throws {
        let h = try WorkerHarness("iidrec")
        let payload: [UInt8] = [0x00, 0xFF, 0x0A] + Array(" report".utf8)
        try h.redis.lpush(h.keys.pending, [JobEnvelope(instanceID: "a1b2c3d4e5f60718293a4b5c6d7e8f90", payload: payload).encoded()])
        let q = RedisJobQueue(redis: h.redis, keys: h.keys, workerID: "ghost-9")
        for expected in 1...2 {
            #expect(try q.pop(timeout: .seconds(1)) != nil)
            #expect(try q.requeue(ownerID: "ghost-9") == 1)
            let element = try #require(try h.redis.lrange(h.keys.pending).first)
            let envelope = JobEnvelope.decode(element)
            #expect(envelope.instanceID == "a1b2c3d4e5f60718293a4b5c6d7e8f90")
            #expect(envelope.payload == payload && envelope.attemptsMade == expected)
            #expect(ClaimedJob(element: element).id == "a1b2c3d4e5f60718293a4b5c6d7e8f90")
        }
    }

    @Test("an id that is not [0-9A-Za-z_-]{1,64} makes the element a plain payload, in Swift and in Lua alike")
    func badIDIsPlain() throws {
        let h = try WorkerHarness("iidbad")
        for bad in ["\u{1E}rpa:1 0 0 has.dot\nx", "\u{1E}rpa:1 0 0 \(String(repeating: "a", count: 65))\nx"] {
            let raw = Array(bad.utf8)
            #expect(JobEnvelope.decode(raw) == JobEnvelope(payload: raw))
            try h.redis.lpush(h.keys.pending, [raw])
            let q = RedisJobQueue(redis: h.redis, keys: h.keys, workerID: "ghost-8")
            _ = try q.pop(timeout: .seconds(1))
            try q.requeue(ownerID: "ghost-8")
            let back = JobEnvelope.decode(try #require(try h.redis.send(["RPOP", RedisArg(h.keys.pending)]).bytes))
            #expect(back.payload == raw && back.instanceID == nil && back.attemptsMade == 1)
        }
    }

    @Test("failed attempts keep the id to the dead list; results by id for ok and dead jobs, TTL --result-ttl; the handler sees the bare payload")
    func failRetryDeadAndResultsByID() throws {
        let h = try WorkerHarness("iidfail")
        try h.redis.lpush(h.keys.pending, [Self.element("job-ok-1", "same"), Self.element("job-ok-2", "same"), Self.element("job-bad", "bad")])
        let handler = "read -r p; [ \"$p\" = bad ] && exit 3; echo \"$JOB_ID $JOB_ATTEMPT $p\""
        let worker = try h.start(handler: handler, args: ["--max-attempts", "2", "--result-ttl", "90s"])
        #expect(waitUntil { (try? h.results().count) == 3 }, "log: \(worker.output)")
        worker.signal(SIGTERM)
        #expect(worker.wait() == .exited(0))
        let byID = Dictionary(uniqueKeysWithValues: try h.results().map { ($0["job_id"] as? String ?? "?", $0) })
        #expect(byID["job-ok-1"]?["output"] as? String == "job-ok-1 1 same\n")
        #expect(byID["job-ok-2"]?["output"] as? String == "job-ok-2 1 same\n", "identical payloads: two jobs, two ids")
        #expect(byID["job-bad"]?["status"] as? String == "failed" && byID["job-bad"]?["attempts"] as? Int == 2)
        let dead = try #require(try h.dead().first)
        #expect(dead["job_id"] as? String == "job-bad" && dead["payload"] as? String == "bad")
        for id in ["job-ok-1", "job-ok-2", "job-bad"] {
            let key = QueueKeys.resultByID(prefix: h.prefix, id)
            let stored = try #require(try h.redis.send(["GET", RedisArg(key)]).bytes, "\(key)")
            #expect(jsonObject(stored)["job_id"] as? String == id)
            let ttl = try h.redis.send(["PTTL", RedisArg(key)]).int ?? -1
            #expect(ttl > 0 && ttl <= 90_000, "\(key) TTL \(ttl)")
        }
    }

    @Test("a result-by-id key of the wrong type (written by hand) cannot fail the completion: SET replaces it, the job is done once")
    func wrongTypeResultKey() throws {
        let h = try WorkerHarness("iidwt")
        let key = QueueKeys.resultByID(prefix: h.prefix, "hand-made")
        _ = try h.redis.send(["HSET", RedisArg(key), "f", "v"])
        try h.redis.lpush(h.keys.pending, [Self.element("hand-made", "x")])
        let worker = try h.start(handler: "cat")
        #expect(waitUntil { (try? h.results().count) == 1 }, "log: \(worker.output)")
        worker.signal(SIGTERM)
        #expect(worker.wait() == .exited(0))
        #expect(try h.results().first?["status"] as? String == "ok")
        #expect(try h.redis.send(["TYPE", RedisArg(key)]).text == "string")
        #expect(try h.pending() == 0 && h.processing().isEmpty)
    }

    @Test("a plain LPUSH job keeps the payload's SHA-1 as its id and gets no result-by-id key")
    func plainJobsUnchanged() throws {
        let h = try WorkerHarness("iidplain")
        try h.redis.lpush(h.keys.pending, strings: ["plain"])
        let worker = try h.start(handler: "cat")
        #expect(waitUntil { (try? h.results().count) == 1 }, "log: \(worker.output)")
        worker.signal(SIGTERM)
        #expect(worker.wait() == .exited(0))
        #expect(try h.results().first?["job_id"] as? String == SHA1.hex(Array("plain".utf8)))
        #expect(try h.redis.scan(match: QueueKeys.resultByID(prefix: h.prefix, "*")).isEmpty)
    }

    @Test("requeueing a dead job with an instance id puts it back with that id, attempts reset")
    func deadRequeueKeepsID() throws {
        let h = try WorkerHarness("iiddead")
        let letter = DeadLetter(queue: "q", payload: Array("p".utf8), error: "e", attempts: 3, worker: "w", failedAt: "t", jobID: "inst-7")
        try h.redis.lpush(h.keys.dead, [letter.encoded])
        let dead = DeadLetters(redis: h.redis, keys: h.keys)
        let entry = try #require(try dead.all().first)
        #expect(entry.id == "inst-7")
        #expect(try dead.requeue(entry))
        let back = JobEnvelope.decode(try #require(try h.redis.lrange(h.keys.pending).first))
        #expect(back == JobEnvelope(instanceID: "inst-7", payload: Array("p".utf8)))
        let plain = DeadLetter(queue: "q", payload: Array("p".utf8), error: "e", attempts: 3, worker: "w", failedAt: "t", jobID: SHA1.hex(Array("p".utf8)))
        try h.redis.lpush(h.keys.dead, [plain.encoded])
        #expect(try dead.requeue(try #require(try dead.all().first)))
        #expect(try h.redis.lrange(h.keys.pending).last == Array("p".utf8), "a plain job goes back bare")
    }
}
