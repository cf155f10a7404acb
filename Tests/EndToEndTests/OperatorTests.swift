import Foundation
import OrchestratorCore
import Testing
import TestSupport

/// What a new operator trips over: the CLI's queue defaults, status, messages, --version.
@Suite("operator-facing CLI", .requiresRedis, .serialized)
struct OperatorTests {
    @Test("dead/pause without --queue use the running orchestrator's queues; bad names exit 64; pausing an unwatched queue needs --force")
    func queuesFromTheRunningOrchestrator() throws {
        let h = try OrchestratorHarness("opq")
        try h.push("q1", count: 2)
        let o = try h.start(["--queue", "q1", "--queue", "q2", "--handler", "q1=exit 1", "--handler", "q2=cat", "--max-attempts", "1"])
        #expect(waitUntil { (try? h.redis.llen(h.keys("q1").dead)) == 2 }, "log: \(h.log)")
        let env = ["REDIS_URL": TestEnv.redisURL, "QUEUE_PREFIX": h.prefix]
        let (dead, deadOut) = try runToEnd(TestEnv.orchestrator, ["dead"], env: env)
        #expect(dead == .exited(0) && deadOut.contains("q1: 2 dead") && deadOut.contains("q2: 0 dead") && !deadOut.contains("conferencia"), "\(deadOut)")
        let (badName, badOut) = try runToEnd(TestEnv.orchestrator, ["dead", "--queue", "a:b"], env: env)
        #expect(badName == .exited(64) && badOut.contains("--queue: queue name 'a:b'") && !badOut.contains("Usage:"), "\(badOut)")
        let (typo, typoOut) = try runToEnd(TestEnv.orchestrator, ["pause", "--queue", "zz"], env: env)
        #expect(typo == .exited(64) && typoOut.contains("not watched by the running orchestrator") && typoOut.contains("--force"), "\(typoOut)")
        #expect(try h.redis.send(["SCARD", RedisArg(QueueKeys.paused(prefix: h.prefix))]).int == 0, "nothing paused by the refused command")
        let (forced, _) = try runToEnd(TestEnv.orchestrator, ["pause", "--queue", "zz", "--force"], env: env)
        #expect(forced == .exited(0))
        let (js, json) = try runToEnd(TestEnv.orchestrator, ["status", "--json", "--queue", "q1"], env: env)
        #expect(js == .exited(0))
        let queues = jsonObject(Array(json.utf8))["queues"] as? [[String: Any]] ?? []
        #expect(queues.map { $0["queue"] as? String } == ["q1"], "--queue filters: \(json)")
        #expect(queues.first?["dead_now"] as? Int == 2 && queues.first?["dead_total"] as? Int == 2 && queues.first?["failed_attempts_total"] as? Int == 2)
        let (_, table) = try runToEnd(TestEnv.orchestrator, ["status"], env: env)
        #expect(table.contains("FAILED ATTEMPTS") && table.contains("DEAD NOW") && table.contains("q2"), "\(table)")
        o.signal(SIGTERM)
        #expect(o.wait() == .exited(0))
    }

    @Test("status with only standalone workers shows them and exits 0; with nothing running it exits 3")
    func standaloneStatus() throws {
        let h = try OrchestratorHarness("opstand")
        let env = ["REDIS_URL": TestEnv.redisURL, "QUEUE_PREFIX": h.prefix]
        let (none, noneOut) = try runToEnd(TestEnv.orchestrator, ["status"], env: env)
        #expect(none == .exited(3) && noneOut.contains("no worker"), "\(noneOut)")
        let worker = try Launched(TestEnv.worker, ["--queue", "solo", "--handler", "cat"], env: env, outputPath: "\(h.dir)/worker.log")
        #expect(waitUntil { (try? h.redis.scan(match: QueueKeys.heartbeatPattern(prefix: h.prefix)).count) == 1 }, "\(worker.output)")
        let (st, out) = try runToEnd(TestEnv.orchestrator, ["status"], env: env)
        #expect(st == .exited(0) && out.contains("1 standalone worker(s) alive") && out.contains("solo"), "\(out)")
        worker.signal(SIGTERM)
        #expect(worker.wait() == .exited(0))
    }

    @Test("config errors name their source and value without the usage text; --version on both executables")
    func messagesAndVersion() throws {
        let h = try OrchestratorHarness("opmsg")
        let env = ["REDIS_URL": TestEnv.redisURL, "QUEUE_PREFIX": h.prefix]
        let (logDir, logOut) = try runToEnd(TestEnv.orchestrator, ["--queue", "q", "--handler", "q=cat", "--log-dir", "/proc/nope"], env: env)
        #expect(logDir == .exited(64) && logOut.contains("--log-dir: cannot create directory '/proc/nope'") && !logOut.contains("Usage:"), "\(logOut)")
        let (mode, modeOut) = try runToEnd(TestEnv.worker, ["--queue", "q", "--handler", "cat"], env: env.merging(["HANDLER_MODE": "sometimes"]) { $1 })
        #expect(mode == .exited(64) && modeOut.contains("--handler-mode (from HANDLER_MODE): expected exec or persistent, got 'sometimes'"), "\(modeOut)")
        for binary in [TestEnv.orchestrator, TestEnv.worker] {
            let (cs, script) = try runToEnd(binary, ["--generate-completion-script", "bash"])
            #expect(cs == .exited(0) && script.contains("persistent") && script.contains("--handler-mode"), "completion offers the modes")
            let (st, out) = try runToEnd(binary, ["--version"])
            #expect(st == .exited(0) && out.trimmingCharacters(in: .whitespacesAndNewlines) == Version.string, "\(binary): \(out)")
        }
    }

    @Test("dead one by one: --json, --requeue --id, --delete --id (identical payloads share an id), --purge --yes; bad use exits 64")
    func deadOneByOne() throws {
        let h = try OrchestratorHarness("opdead")
        let env = ["REDIS_URL": TestEnv.redisURL, "QUEUE_PREFIX": h.prefix]
        try h.redis.lpush(h.keys("q").pending, strings: ["a", "b", "c", "c"])
        let worker = try Launched(TestEnv.worker, ["--queue", "q", "--handler", "false", "--max-attempts", "1"], env: env, outputPath: "\(h.dir)/w.log")
        #expect(waitUntil { (try? h.redis.llen(h.keys("q").dead)) == 4 }, "\(worker.output)")
        worker.signal(SIGTERM)
        #expect(worker.wait() == .exited(0))
        let dead = { (args: [String]) throws -> (TerminationStatus?, String) in try runToEnd(TestEnv.orchestrator, ["dead", "--queue", "q"] + args, env: env) }
        let (js, listing) = try dead(["--json"])
        let entries = (try? JSONSerialization.jsonObject(with: Data(listing.utf8)) as? [[String: Any]]) ?? []
        #expect(js == .exited(0) && entries.count == 4, "\(listing)")
        #expect(entries.allSatisfy { ($0["id"] as? String)?.count == 40 && $0["attempts"] as? Int == 1 && $0["queue"] as? String == "q" })
        let idA = SHA1.hex(Array("a".utf8)), idC = SHA1.hex(Array("c".utf8))
        let (rq, rqOut) = try dead(["--requeue", "--id", String(idA.prefix(12))])
        #expect(rq == .exited(0) && rqOut.contains("q: 1 job(s) moved back"), "\(rqOut)")
        #expect(try h.redis.lrange(h.keys("q").pending) == [Array("a".utf8)])
        let (del, delOut) = try dead(["--delete", "--id", idC])
        #expect(del == .exited(0) && delOut.contains("q: 2 job(s) deleted"), "\(delOut)")
        #expect(try h.redis.llen(h.keys("q").dead) == 1)
        let (noYes, noYesOut) = try dead(["--purge"])
        #expect(noYes == .exited(64) && noYesOut.contains("--yes"), "\(noYesOut)")
        let (purge, purgeOut) = try dead(["--purge", "--yes"])
        #expect(purge == .exited(0) && purgeOut.contains("q: 1 dead job(s) deleted"), "\(purgeOut)")
        #expect(try h.redis.llen(h.keys("q").dead) == 0)
        #expect(try dead(["--delete"]).0 == .exited(64))
        #expect(try dead(["--requeue", "--id", "xyz"]).0 == .exited(64))
    }

    @Test("--log-format json --log-time iso --log-to file: JSON lines in the files (workers too), nothing on stderr, one job id everywhere")
    func jsonLogs() throws {
        let h = try OrchestratorHarness("oplog")
        try h.push("q", count: 1)
        let o = try h.start(["--queue", "q", "--handler", "q=cat", "--log-format", "json", "--log-time", "iso", "--log-to", "file"])
        #expect(waitUntil { (try? h.results("q").count) == 1 }, "log: \(h.log)")
        o.signal(SIGTERM)
        #expect(o.wait() == .exited(0))
        let lines = h.log.split(separator: "\n").map { jsonObject(Array($0.utf8)) }
        #expect(!lines.isEmpty && lines.allSatisfy { $0["ts"] is String && $0["level"] is String && $0["message"] is String }, "\(h.log)")
        #expect(lines.contains { ($0["message"] as? String)?.hasPrefix("[ESCALAR] q: 1 jobs → criando 1 worker(s)") == true })
        let seed: [(message: String, event: String?)] = lines.compactMap { line in
            guard let message = line["message"] as? String, message.hasPrefix("[ESCALAR]") || message.hasPrefix("[REDUZIR]") || message.hasPrefix("[EQUILIBRIO]")
            else { return nil }
            return (message, line["event"] as? String)
        }
        let events = seed.map { $0.event ?? "null" }
        #expect(events.first == "scale.up" && Set(events).isSubset(of: ["scale.up", "scale.down", "scale.steady"]), "the seed's lines carry an event: \(seed)")
        #expect(!o.output.contains("orchestrator.ready"), "--log-to file keeps stderr clean: \(o.output)")
        let workerLog = (try? String(contentsOfFile: "\(h.logDir)/worker-q-1.log", encoding: .utf8)) ?? ""
        let done = workerLog.split(separator: "\n").map { jsonObject(Array($0.utf8)) }.first { $0["event"] as? String == "job.done" }
        let id = try #require(try h.results("q").first?["job_id"] as? String)
        #expect((done?["metadata"] as? [String: Any])?["job.id"] as? String == id, "the same, full job id in logs and results: \(workerLog)")
    }
}
