import Foundation
import OrchestratorCore
import Testing
import TestSupport

@Suite("worker against a real redis-server", .requiresRedis)
struct WorkerTests {
    @Test("payloads round-trip byte for byte (NUL, invalid UTF-8, 5 MB) in FIFO order")
    func roundTrip() throws {
        let h = try WorkerHarness("rt")
        let binary: [UInt8] = [0x61, 0x00, 0x62, 0xFF, 0xFE, 0x00]
        var big = [UInt8](repeating: 0, count: 5 * 1024 * 1024)
        for i in big.indices { big[i] = UInt8(truncatingIfNeeded: i &* 2654435761 >> 7) }
        let payloads: [[UInt8]] = [Array("first ✓".utf8), binary, big, Array("last".utf8)]
        try h.redis.lpush(h.keys.pending, payloads)
        let worker = try h.start(handler: "cat")
        #expect(waitUntil { (try? h.results().count) == 4 }, "worker log: \(worker.output)")
        worker.signal(SIGTERM)
        #expect(worker.wait() == .exited(0))
        let results = try h.results()
        #expect(results.map { WorkerHarness.bytes($0, "payload") } == payloads)
        #expect(results.allSatisfy { $0["status"] as? String == "ok" && $0["attempts"] as? Int == 1 })
        #expect(WorkerHarness.bytes(results[1], "output") == binary)
        #expect(results[1]["payload_encoding"] as? String == "base64")
        // stdout is capped at 1 MiB: the rest is read and dropped, and the record says so.
        #expect(WorkerHarness.bytes(results[2], "output") == Array(big.prefix(1 << 20)))
        #expect(results[2]["output_truncated"] as? Bool == true)
        #expect(try h.pending() == 0)
        #expect(try h.processing().isEmpty)
    }

    @Test("a failing handler is retried, then dead-lettered with its error")
    func deadLetter() throws {
        let h = try WorkerHarness("dl")
        try h.redis.lpush(h.keys.pending, strings: ["doomed"])
        let worker = try h.start(handler: "echo \"boom on attempt $JOB_ATTEMPT\" >&2; exit 3", args: ["--max-attempts", "3"])
        #expect(waitUntil { (try? h.dead().count) == 1 }, "worker log: \(worker.output)")
        worker.signal(SIGTERM)
        #expect(worker.wait() == .exited(0))
        let dead = try #require(try h.dead().first)
        #expect(dead["payload"] as? String == "doomed")
        #expect(dead["attempts"] as? Int == 3)
        #expect((dead["error"] as? String ?? "").contains("boom on attempt 3"))
        #expect((dead["error"] as? String ?? "").contains("exit 3"))
        let results = try h.results()
        #expect(results.count == 1)
        #expect(results.first?["status"] as? String == "failed")
        let stats = try h.redis.send(["HGETALL", RedisArg(h.keys.stats)]).fields
        #expect(stats["failed"] == "3" && stats["dead"] == "1")
        #expect(try h.pending() == 0)
    }

    @Test("--retry-delay parks a failed attempt in <queue>:retry and brings it back when due")
    func retryDelay() throws {
        let h = try WorkerHarness("rd")
        let marker = "\(h.dir)/first-attempt-done"
        try h.redis.lpush(h.keys.pending, strings: ["flaky"])
        // Fails the first time, succeeds the second.
        let worker = try h.start(handler: "if [ \"$JOB_ATTEMPT\" = 1 ]; then touch \(marker); exit 1; fi; echo fine",
                                 args: ["--retry-delay", "1", "--max-attempts", "3"])
        #expect(waitUntil { FileManager.default.fileExists(atPath: marker) })
        #expect(waitUntil(timeout: .seconds(2)) { ((try? h.redis.send(["ZCARD", RedisArg(h.keys.retry)]).int) ?? 0) == 1 })
        #expect(waitUntil { (try? h.results().count) == 1 }, "worker log: \(worker.output)")
        worker.signal(SIGTERM)
        #expect(worker.wait() == .exited(0))
        let record = try #require(try h.results().first)
        #expect(record["status"] as? String == "ok")
        #expect(record["attempts"] as? Int == 2)
    }

    @Test("two failed jobs with identical payloads stay two jobs while they wait for their retry")
    func identicalPayloadsInRetry() throws {
        let h = try WorkerHarness("twin")
        try h.redis.lpush(h.keys.pending, strings: ["same", "same"])
        let worker = try h.start(handler: "exit 1", args: ["--retry-delay", "30", "--max-attempts", "5"])
        #expect(waitUntil { ((try? h.redis.send(["ZCARD", RedisArg(h.keys.retry)]).int) ?? 0) == 2 }, "worker log: \(worker.output)")
        worker.signal(SIGTERM)
        #expect(worker.wait() == .exited(0))
        // Make both due now: both come back, byte for byte.
        let members = try h.redis.send(["ZRANGE", RedisArg(h.keys.retry), "0", "-1"]).array?.compactMap(\.bytes) ?? []
        #expect(members.count == 2)
        for member in members { _ = try h.redis.send(["ZADD", RedisArg(h.keys.retry), "XX", "0", RedisArg(bytes: member)]) }
        let q = RedisJobQueue(redis: h.redis, keys: h.keys, workerID: "test")
        #expect(try q.promoteDueRetries(nowMilliseconds: 1) == 2)
        #expect(try h.redis.lrange(h.keys.pending).map { JobEnvelope.decode($0).payload } == [Array("same".utf8), Array("same".utf8)])
    }

    @Test("--job-timeout kills the handler's whole process group, grandchildren included")
    func jobTimeoutKillsTree() throws {
        let h = try WorkerHarness("to")
        let marker = "4242.\(UInt16.random(in: 1000...9999))"
        try h.redis.lpush(h.keys.pending, strings: ["slow"])
        let worker = try h.start(handler: "sleep \(marker) & (sleep \(marker) &) ; sleep \(marker)",
                                 args: ["--job-timeout", "1", "--max-attempts", "1"])
        #expect(waitUntil { !processesMatching("sleep \(marker)").isEmpty })
        #expect(waitUntil { (try? h.dead().count) == 1 }, "worker log: \(worker.output)")
        #expect((try h.dead().first?["error"] as? String ?? "").contains("timed out after 1s (--job-timeout)"))
        // The worker's own command line holds the marker too (its --handler): leave it out.
        let leftovers = { processesMatching("sleep \(marker)").filter { $0 != worker.pid } }
        #expect(waitUntil(timeout: .seconds(3)) { leftovers().isEmpty }, "left behind: \(leftovers())")
        worker.signal(SIGTERM)
        #expect(worker.wait() == .exited(0))
    }

    @Test("TERM during a 2 s job: the job finishes, its result is pushed, exit 0, the next job is not taken")
    func termDuringJob() throws {
        let h = try WorkerHarness("term")
        try h.redis.lpush(h.keys.pending, strings: ["one", "two"])
        let worker = try h.start(handler: "sleep 2; echo finished")
        #expect(waitUntil { (try? h.heartbeatState(pid: worker.pid)) == "busy" })
        worker.signal(SIGTERM)
        #expect(worker.wait() == .exited(0))
        let results = try h.results()
        #expect(results.count == 1)
        #expect(results.first?["output"] as? String == "finished\n")
        #expect(try h.pending() == 1)
        #expect(try h.redis.lrange(h.keys.pending) == [Array("two".utf8)])
        #expect(try h.processing().isEmpty)
    }

    @Test("SIGKILL mid-job leaves the job in the processing list; recovery requeues it and another worker completes it")
    func sigkillRecovery() throws {
        let h = try WorkerHarness("kill")
        let marker = "4343.\(UInt16.random(in: 1000...9999))"
        try h.redis.lpush(h.keys.pending, strings: ["precious"])
        let first = try h.start(handler: "sleep \(marker)")
        #expect(waitUntil { (try? h.heartbeatState(pid: first.pid)) == "busy" })
        first.signal(SIGKILL)
        first.wait()
        let lists = try h.processing()
        #expect(lists.count == 1)
        #expect(try h.redis.lrange(lists[0]) == [Array("precious".utf8)])
        for pid in processesMatching("sleep \(marker)") { kill(pid, SIGKILL) }
        // A second worker recovers it once the dead owner's heartbeat (TTL 10 s) has expired.
        let second = try h.start(handler: "cat", slot: 2)
        #expect(waitUntil(timeout: .seconds(45)) { (try? h.results().count) == 1 }, "worker log: \(second.output)")
        second.signal(SIGTERM)
        #expect(second.wait() == .exited(0))
        let record = try #require(try h.results().first)
        #expect(record["output"] as? String == "precious")
        #expect(record["attempts"] as? Int == 2)
        #expect(try h.processing().isEmpty)
        #expect(second.output.contains("job.recovered"))
    }

    @Test("persistent mode: 100 jobs on one handler process; garbage fails only that job and the handler restarts")
    func persistentMode() throws {
        let h = try WorkerHarness("pm")
        let handler = #"while IFS= read -r line; do case "$line" in *garbage*) echo 'this is not json';; *) echo "{\"status\":\"ok\",\"output\":\"$$\"}";; esac; done"#
        try h.redis.lpush(h.keys.pending, strings: (1...100).map { "job \($0)" })
        let worker = try h.start(handler: handler, args: ["--handler-mode", "persistent", "--max-attempts", "1"])
        #expect(waitUntil { (try? h.results().count) == 100 }, "worker log: \(worker.output)")
        let pids = Set(try h.results().compactMap { $0["output"] as? String })
        #expect(pids.count == 1)
        try h.redis.lpush(h.keys.pending, strings: ["garbage please", "after 1", "after 2"])
        #expect(waitUntil { (try? h.results().count) == 103 }, "worker log: \(worker.output)")
        worker.signal(SIGTERM)
        #expect(worker.wait() == .exited(0))
        let results = try h.results()
        #expect(results[100]["status"] as? String == "failed")
        #expect((results[100]["error"] as? String ?? "").contains("invalid JSON"))
        #expect(try h.dead().count == 1)
        let after = Set(results[101...].compactMap { $0["output"] as? String })
        #expect(after.count == 1)
        #expect(after.isDisjoint(with: pids), "the handler should have been restarted")
    }

    @Test("persistent mode: a job past --job-timeout kills that handler; the next job gets a fresh one")
    func persistentTimeout() throws {
        let h = try WorkerHarness("pto")
        let handler = #"while IFS= read -r line; do case "$line" in *slow*) sleep 30;; esac; echo "{\"status\":\"ok\",\"output\":\"$$\"}"; done"#
        try h.redis.lpush(h.keys.pending, strings: ["fast 1", "slow", "fast 2"])
        let worker = try h.start(handler: handler, args: ["--handler-mode", "persistent", "--max-attempts", "1", "--job-timeout", "1"])
        #expect(waitUntil { (try? h.results().count) == 3 }, "worker log: \(worker.output)")
        worker.signal(SIGTERM)
        #expect(worker.wait() == .exited(0))
        let results = try h.results()
        #expect(results[1]["status"] as? String == "failed")
        #expect((results[1]["error"] as? String ?? "").contains("timed out"))
        #expect(results[0]["output"] as? String != results[2]["output"] as? String, "a new handler process after the timeout")
        #expect(processesMatching("sleep 30").allSatisfy { pid in
            !((try? String(contentsOfFile: "/proc/\(pid)/environ", encoding: .utf8))?.contains(h.prefix) ?? false)
        })
    }

    @Test("handlers do not get the Redis password; they do get the worker's other environment and JOB_* variables")
    func handlerEnvironment() throws {
        let h = try WorkerHarness("env")
        let user = "envu\(UInt16.random(in: 0...UInt16.max))"
        _ = try h.redis.send(["ACL", "SETUSER", RedisArg(user), "on", ">pw-for-redis-only", "~*", "+@all"])
        defer { _ = try? h.redis.send(["ACL", "DELUSER", RedisArg(user)]) }
        try h.redis.lpush(h.keys.pending, strings: ["x"])
        let worker = try h.start(handler: #"echo "pw=[$REDIS_PASSWORD] rpa=[$RPA_USER] q=[$JOB_QUEUE] a=[$JOB_ATTEMPT] id=${#JOB_ID}""#,
                                 env: ["REDIS_URL": "redis://\(user)@127.0.0.1:\(TestEnv.redisPort!)/9", "REDIS_PASSWORD": "pw-for-redis-only",
                                       "RPA_USER": "robot7"])
        #expect(waitUntil { (try? h.results().count) == 1 }, "worker log: \(worker.output)")
        worker.signal(SIGTERM)
        worker.wait()
        #expect(try h.results().first?["output"] as? String == "pw=[] rpa=[robot7] q=[q] a=[1] id=40\n")
    }

    @Test("persistent mode: a handler that dies while idle is replaced before the next job, which does not fail")
    func persistentDiesWhileIdle() throws {
        let h = try WorkerHarness("pidle")
        // Answers one job, then exits 0.2 s later, while the worker is idle.
        let handler = #"IFS= read -r line; echo "{\"status\":\"ok\",\"output\":\"$$\"}"; sleep 0.2; exit 3"#
        try h.redis.lpush(h.keys.pending, strings: ["first"])
        let worker = try h.start(handler: handler, args: ["--handler-mode", "persistent", "--max-attempts", "1"])
        #expect(waitUntil { (try? h.results().count) == 1 }, "worker log: \(worker.output)")
        usleep(600_000)
        try h.redis.lpush(h.keys.pending, strings: ["second"])
        #expect(waitUntil { (try? h.results().count) == 2 }, "worker log: \(worker.output)")
        worker.signal(SIGTERM)
        #expect(worker.wait() == .exited(0))
        let results = try h.results()
        #expect(results.allSatisfy { $0["status"] as? String == "ok" }, "\(results)")
        #expect(results[0]["output"] as? String != results[1]["output"] as? String)
    }

    @Test("a standalone worker takes no job while its queue is paused, and resumes by itself")
    func pausedQueue() throws {
        let h = try WorkerHarness("wpause")
        let pausedKey = RedisArg(QueueKeys.paused(prefix: h.prefix))
        _ = try h.redis.send(["SADD", pausedKey, "q"])
        let worker = try h.start(handler: "cat")
        #expect(waitUntil { worker.output.contains("queue.paused") }, "log: \(worker.output)")
        try h.redis.lpush(h.keys.pending, strings: ["waits"])
        usleep(1_500_000)
        #expect(try h.results().isEmpty && h.pending() == 1)
        _ = try h.redis.send(["SREM", pausedKey, "q"])
        #expect(waitUntil { (try? h.results().count) == 1 }, "log: \(worker.output)")
        worker.signal(SIGTERM)
        #expect(worker.wait() == .exited(0))
    }

    @Test("--max-jobs-per-worker: exits 75 after that many jobs, leaving the rest pending")
    func recycleAfterJobs() throws {
        let h = try WorkerHarness("rc")
        try h.redis.lpush(h.keys.pending, strings: (1...5).map { "j\($0)" })
        let worker = try h.start(handler: "cat", args: ["--max-jobs-per-worker", "3"])
        #expect(worker.wait() == .exited(ExitCodes.recycle))
        #expect(try h.results().count == 3)
        #expect(try h.pending() == 2)
    }

    @Test("--max-worker-rss-mb: the process tree over the limit finishes its job, then exits 75")
    func recycleOnMemory() throws {
        let h = try WorkerHarness("rss")
        try h.redis.lpush(h.keys.pending, strings: ["a", "b", "c"])
        // A Swift worker alone is ~20 MB resident: a 1 MB limit trips after the first job.
        let worker = try h.start(handler: "cat", args: ["--max-worker-rss-mb", "1"])
        #expect(worker.wait() == .exited(ExitCodes.recycle), "log: \(worker.output)")
        #expect(try h.results().count == 1)
        #expect(try h.pending() == 2)
        #expect(worker.output.contains("process tree memory (PSS) over the limit"))
    }

    @Test("unreachable Redis: a clear message and exit 69")
    func unreachable() throws {
        let (status, output) = try runToEnd(TestEnv.worker, ["--queue", "q", "--handler", "cat"],
                                            env: ["REDIS_URL": "redis://127.0.0.1:1/0"])
        #expect(status == .exited(69))
        #expect(output.contains("redis.unavailable"))
        #expect(output.contains("127.0.0.1:1"))
    }

    @Test("wrong password for an ACL user: exit 69, and the password never appears")
    func wrongPassword() throws {
        let redis = try TestEnv.connect()
        let user = "u\(UInt16.random(in: 0...UInt16.max))"
        _ = try redis.send(["ACL", "SETUSER", RedisArg(user), "on", ">right-horse-battery", "~*", "+@all"])
        defer { _ = try? redis.send(["ACL", "DELUSER", RedisArg(user)]) }
        let (status, output) = try runToEnd(TestEnv.worker, ["--queue", "q", "--handler", "cat"],
                                            env: ["REDIS_URL": "redis://\(user)@127.0.0.1:\(TestEnv.redisPort!)/9",
                                                  "REDIS_PASSWORD": "Wrong-Secret-42"])
        #expect(status == .exited(69))
        #expect(output.contains("authentication failed"))
        #expect(!output.contains("Wrong-Secret-42"))
        // And the right password works through REDIS_PASSWORD alone.
        let h = try WorkerHarness("acl")
        try h.redis.lpush(h.keys.pending, strings: ["hello"])
        let worker = try h.start(handler: "cat", env: ["REDIS_URL": "redis://\(user)@127.0.0.1:\(TestEnv.redisPort!)/9",
                                                       "REDIS_PASSWORD": "right-horse-battery"])
        #expect(waitUntil { (try? h.results().count) == 1 }, "worker log: \(worker.output)")
        worker.signal(SIGTERM)
        #expect(worker.wait() == .exited(0))
        #expect(!worker.output.contains("right-horse-battery"))
    }
}
