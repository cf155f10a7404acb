import Foundation
import OrchestratorCore
import Testing
import TestSupport

@Suite("orchestrator robustness: outages, secrets, bad input", .requiresRedis, .serialized)
struct RobustnessTests {
    @Test("Redis outage: workers are held, running jobs push their results when Redis is back, one down and one up line each")
    func redisOutage() throws {
        let redis = try PrivateRedis()
        let dir = TestEnv.scratch("outage")
        let c = RedisConnection(endpoint: RedisEndpoint(host: "127.0.0.1", port: redis.port))
        try c.connect()
        try c.lpush("fila:conferencia", strings: (1...100).map { "job-\($0)" })
        let o = try Launched(TestEnv.orchestrator, ["--queue", "conferencia", "--handler", "conferencia=sleep 3; echo done",
                                                    "--scale-down-delay", "0", "--log-dir", "\(dir)/logs"],
                             env: ["REDIS_URL": redis.url], outputPath: "\(dir)/out.txt")
        let log = { (try? String(contentsOfFile: "\(dir)/logs/orchestrator.log", encoding: .utf8)) ?? "" }
        #expect(waitUntil { log().contains("Total de conferencia: 2") }, "log: \(log())")
        #expect(waitUntil { log().contains("iniciado") && ((try? c.scan(match: "orchestrator:fila:worker:*").count) ?? 0) == 2 })
        #expect(waitUntil {  // both busy with their 3 s job
            ((try? c.scan(match: "orchestrator:fila:worker:*").filter { (try? c.send(["HGET", RedisArg($0), "state"]).text) == "busy" }.count) ?? 0) == 2
        })
        redis.stop()
        // Down across a job's end: results must wait, workers must stay.
        var seen: [pid_t] = []
        #expect(holds(for: .seconds(4)) {
            seen = ProcessTree.children(of: o.pid).filter { ProcessTree.entry($0).map { !$0.isZombie } ?? false }
            return seen.count == 2
        }, "the orchestrator must hold its workers while Redis is unreadable: \(seen.map { ProcessTree.entry($0) })")
        #expect(!log().contains("[REDUZIR]"))
        try redis.start()
        try c.connect()
        #expect(waitUntil(timeout: .seconds(20)) { ((try? c.llen("fila:conferencia:results")) ?? 0) >= 2 }, "log: \(log())")
        o.signal(SIGTERM)
        #expect(waitUntil { log().contains("drain.begin") })
        o.signal(SIGTERM)
        #expect(o.wait() == .exited(0))
        let results = try c.lrange("fila:conferencia:results").map(jsonObject)
        #expect(results.allSatisfy { $0["status"] as? String == "ok" && $0["output"] as? String == "done\n" })
        #expect(log().components(separatedBy: "redis.down").count - 1 == 1, "log: \(log())")
        #expect(log().components(separatedBy: "redis.up").count - 1 == 1, "log: \(log())")
        for slot in 1...2 {
            let wlog = (try? String(contentsOfFile: "\(dir)/logs/worker-conferencia-\(slot).log", encoding: .utf8)) ?? ""
            #expect(wlog.components(separatedBy: "redis.down").count - 1 <= 1, "worker \(slot): \(wlog)")
            #expect(wlog.components(separatedBy: "redis.up").count - 1 <= 1, "worker \(slot): \(wlog)")
        }
        // Nothing lost: every job is pending or has a result.
        let pending = try c.llen("fila:conferencia")
        #expect(pending + results.count == 100)
        redis.stop()
    }

    @Test("secrets (REDIS_PASSWORD, RPA credentials) never appear in ps or any log; printed config redacts them")
    func secrets() throws {
        let h = try OrchestratorHarness("secret")
        let user = "robot\(UInt16.random(in: 0...UInt16.max))"
        let password = "Pw-\(UInt32.random(in: 0...UInt32.max))-redis"
        let rpa = "Rpa-\(UInt32.random(in: 0...UInt32.max))-secret"
        _ = try h.redis.send(["ACL", "SETUSER", RedisArg(user), "on", RedisArg(">\(password)"), "~*", "+@all"])
        defer { _ = try? h.redis.send(["ACL", "DELUSER", RedisArg(user)]) }
        try h.push("conferencia", count: 60)
        // The URL carries the password here (the worst case): workers still get it only on their stdin, never in ps.
        let o = try h.start(["--queue", "conferencia", "--handler", #"conferencia=test -n "$RPA_PASSWORD" && sleep 1 && echo used-credentials"#],
                            env: ["REDIS_URL": "redis://\(user):\(password)@127.0.0.1:\(TestEnv.redisPort!)/9", "RPA_PASSWORD": rpa])
        #expect(waitUntil { (try? h.busyWorkers().count) == 2 }, "log: \(h.log)")
        let ps = try runToEnd("/bin/ps", ["-eo", "args"]).1
        #expect(ps.contains("--queue conferencia"))
        #expect(!ps.contains(password) && !ps.contains(rpa))
        #expect(waitUntil { ((try? h.results("conferencia").count) ?? 0) >= 2 })
        o.signal(SIGTERM)
        #expect(waitUntil { h.log.contains("drain.begin") })
        o.signal(SIGTERM)
        #expect(o.wait() == .exited(0))
        #expect(try h.results("conferencia").allSatisfy { $0["output"] as? String == "used-credentials\n" })
        #expect(h.log.contains("redis://\(user):***@127.0.0.1"))
        let logs = try FileManager.default.contentsOfDirectory(atPath: h.logDir)
        #expect(logs.count >= 3)
        for file in logs {
            let text = try String(contentsOfFile: "\(h.logDir)/\(file)", encoding: .utf8)
            #expect(!text.contains(password) && !text.contains(rpa), "\(file) leaks a secret")
        }
        #expect(!o.output.contains(password) && !o.output.contains(rpa))
    }

    @Test("bad orchestrator flags and env exit 64 naming the flag; unreachable Redis exits 69", arguments: [
        (["--max-total", "abc"], [String: String](), Int32(64), "--max-total"),
        (["--max-per-queue", "30"], [:], 64, "--max-per-queue: 30 is above --max-total 20"),
        (["--handler", "typo=cat"], [:], 64, "'typo' is not a watched queue"),
        ([], ["MAX_TOTAL": "-1"], 64, "MAX_TOTAL"),
        ([], ["QUEUES": ""], 64, "--queue"),
        (["--redis-url", "http://localhost:6379"], [:], 64, "--redis-url"),
        (["--poll-interval", "fast"], [:], 64, "--poll-interval"),
        (["--redis-url", "redis://127.0.0.1:1/0"], [:], 69, "redis.unavailable"),
    ])
    func badFlags(args: [String], env: [String: String], code: Int32, message: String) throws {
        let dir = TestEnv.scratch("flags")
        var environment = ["HANDLER_CONFERENCIA": "cat", "HANDLER_EMISSAO": "cat", "LOG_DIR": "\(dir)/logs", "REDIS_URL": TestEnv.redisURL]
        environment.merge(env) { _, new in new }
        let (status, output) = try runToEnd(TestEnv.orchestrator, args, env: environment)
        #expect(status == .exited(code), "\(output)")
        #expect(output.contains(message), "\(output)")
        #expect(!output.contains("Fatal error"))
    }

    @Test("dead letters: listed with their error, requeued with a fresh attempt count, then completed")
    func deadLetters() throws {
        let h = try OrchestratorHarness("dead")
        try h.redis.lpush(h.keys("conferencia").pending, [Array("ok-payload".utf8), [0xFF, 0x00, 0x01]])
        let failing = try h.start(["--queue", "conferencia", "--handler", "conferencia=echo 'site is down' >&2; exit 4", "--max-attempts", "1"])
        #expect(waitUntil { ((try? h.redis.llen(h.keys("conferencia").dead)) ?? 0) == 2 }, "log: \(h.log)")
        failing.signal(SIGTERM)
        #expect(failing.wait() == .exited(0))
        let env = ["REDIS_URL": TestEnv.redisURL, "QUEUE_PREFIX": h.prefix]
        let (listed, listing) = try runToEnd(TestEnv.orchestrator, ["dead", "--queue", "conferencia"], env: env)
        #expect(listed == .exited(0))
        #expect(listing.contains("conferencia: 2 dead") && listing.contains("site is down") && listing.contains("ok-payload"), "\(listing)")
        let (moved, output) = try runToEnd(TestEnv.orchestrator, ["dead", "--requeue", "--queue", "conferencia"], env: env)
        #expect(moved == .exited(0))
        #expect(output.contains("2 job(s) moved back"), "\(output)")
        #expect(try h.redis.llen(h.keys("conferencia").dead) == 0)
        #expect(Set(try h.redis.lrange(h.keys("conferencia").pending)) == [Array("ok-payload".utf8), [0xFF, 0x00, 0x01]])
        let fixed = try h.start(["--queue", "conferencia", "--handler", "conferencia=cat", "--max-attempts", "1"])
        #expect(waitUntil { ((try? h.results("conferencia").filter { $0["status"] as? String == "ok" }.count) ?? 0) == 2 }, "log: \(h.log)")
        fixed.signal(SIGTERM)
        #expect(fixed.wait() == .exited(0))
        #expect(try h.results("conferencia").filter { $0["status"] as? String == "ok" }.allSatisfy { $0["attempts"] as? Int == 1 })
    }

    @Test("--metrics-listen (the old name of --http-listen, a host name) serves Prometheus text, /livez, /readyz and /healthz; query strings and HEAD work")
    func metrics() throws {
        let h = try OrchestratorHarness("metrics")
        try h.push("conferencia", count: 120)
        let o = try h.start(["--queue", "conferencia", "--handler", "conferencia=sleep 20", "--metrics-listen", "localhost:0"])
        var port = 0
        #expect(waitUntil { port = listeningPort(h.log); return port > 0 }, "log: \(h.log)")
        #expect(waitUntil { (httpGet(port: port, path: "/metrics")?.body ?? "").contains(#"rpa_workers{queue="conferencia",state="busy"} 3"#) },
                "\(httpGet(port: port, path: "/metrics")?.body ?? "no answer")")
        let body = httpGet(port: port, path: "/metrics")?.body ?? ""
        #expect(body.contains(#"rpa_queue_target{queue="conferencia"} 3"#))
        #expect(body.contains(#"rpa_worker_starts_total{queue="conferencia"} 3"#))
        #expect(body.contains("# TYPE rpa_jobs_done_total counter"))
        #expect(body.contains("rpa_redis_up 1"))
        let polls = body.split(separator: "\n").first { $0.hasPrefix("rpa_orchestrator_poll_seconds_count ") }.flatMap { Int($0.split(separator: " ")[1]) }
        #expect((polls ?? 0) >= 1, "the poll passes are counted: \(body.suffix(2000))")
        #expect(httpGet(port: port, path: "/healthz")?.status == "HTTP/1.1 200 OK")
        #expect(httpGet(port: port, path: "/readyz")?.status == "HTTP/1.1 200 OK")
        #expect(httpGet(port: port, path: "/livez")?.status == "HTTP/1.1 200 OK")
        #expect(httpGet(port: port, path: "/metrics?format=text")?.body.contains("rpa_redis_up 1") == true)
        let head = httpGet(port: port, path: "/healthz", method: "HEAD")
        #expect(head?.status == "HTTP/1.1 200 OK" && head?.body == "")
        #expect(httpGet(port: port, path: "/nope")?.status == "HTTP/1.1 404 Not Found")
        o.signal(SIGTERM)
        #expect(waitUntil { httpGet(port: port, path: "/readyz")?.status == "HTTP/1.1 503 Service Unavailable" }, "draining is not ready")
        #expect(httpGet(port: port, path: "/livez")?.status == "HTTP/1.1 200 OK", "but it is alive")
        o.signal(SIGTERM)
        #expect(o.wait() == .exited(0))
    }

    @Test("a bad METRICS_LISTEN exits 64 naming the flag and the variable")
    func badMetricsListen() throws {
        let h = try OrchestratorHarness("badlisten")
        let (status, output) = try runToEnd(TestEnv.orchestrator, ["--queue", "conferencia", "--handler", "conferencia=cat", "--log-dir", h.logDir],
                                            env: ["REDIS_URL": TestEnv.redisURL, "QUEUE_PREFIX": h.prefix, "METRICS_LISTEN": "127.0.0.1:99999"])
        #expect(status == .exited(64))
        #expect(output.contains("--metrics-listen (from METRICS_LISTEN): expected HOST:PORT"), "\(output)")
    }

    @Test("a second orchestrator on the same prefix refuses to start (exit 73); one killed with -9 does not block a restart")
    func singleInstance() throws {
        let h = try OrchestratorHarness("single")
        let first = try h.start(["--queue", "conferencia", "--handler", "conferencia=cat"])
        #expect(waitUntil { h.log.contains("orchestrator.ready") })
        let (status, output) = try runToEnd(TestEnv.orchestrator, ["--queue", "conferencia", "--handler", "conferencia=cat"],
                                            env: ["REDIS_URL": TestEnv.redisURL, "QUEUE_PREFIX": h.prefix, "LOG_DIR": "\(h.dir)/second"])
        #expect(status == .exited(73))
        #expect(output.contains("orchestrator.already_running") && output.contains("pid \(first.pid)"), "\(output)")
        first.signal(SIGKILL)
        first.wait()
        let restarted = try h.start(["--queue", "conferencia", "--handler", "conferencia=cat"])
        #expect(waitUntil { h.log.components(separatedBy: "orchestrator.ready").count - 1 == 2 }, "log: \(h.log)")
        restarted.signal(SIGTERM)
        #expect(restarted.wait() == .exited(0))
    }

    @Test("pause drains a queue's workers at once and leaves its jobs waiting; resume brings workers back")
    func pauseResume() throws {
        let h = try OrchestratorHarness("pause")
        try h.push("conferencia", count: 200)
        let o = try h.start(["--queue", "conferencia", "--handler", "conferencia=sleep 0.3; cat"])
        #expect(waitUntil { h.workers(of: o.pid).count == 4 }, "log: \(h.log)")
        let env = ["REDIS_URL": TestEnv.redisURL, "QUEUE_PREFIX": h.prefix]
        let (paused, pauseOut) = try runToEnd(TestEnv.orchestrator, ["pause", "--queue", "conferencia"], env: env)
        #expect(paused == .exited(0) && pauseOut.contains("conferencia: paused"))
        #expect(waitUntil { h.workers(of: o.pid).isEmpty }, "log: \(h.log)")
        #expect(h.log.contains("queue.paused") && h.log.contains("; queue paused"))
        let waiting = try h.pending("conferencia")
        #expect(holds(for: .seconds(1.5)) { (try? h.pending("conferencia")) == waiting && h.workers(of: o.pid).isEmpty },
                "no worker and no job taken while paused")
        let (_, table) = try runToEnd(TestEnv.orchestrator, ["status", "--queue", "conferencia"], env: env)
        #expect(table.contains("conferencia (paused)"))
        let (resumed, _) = try runToEnd(TestEnv.orchestrator, ["resume", "--queue", "conferencia"], env: env)
        #expect(resumed == .exited(0))
        #expect(waitUntil { h.workers(of: o.pid).count > 0 }, "log: \(h.log)")
        #expect(waitUntil { (try? h.pending("conferencia")) ?? waiting < waiting })
        o.signal(SIGTERM)
        #expect(waitUntil { h.log.contains("drain.begin") })
        o.signal(SIGTERM)
        #expect(o.wait() == .exited(0))
        #expect(try h.results("conferencia").count + h.pending("conferencia") == 200)
    }

    @Test("SIGHUP reopens orchestrator.log after logrotate moved it; the orchestrator keeps running")
    func logRotation() throws {
        let h = try OrchestratorHarness("hup")
        let o = try h.start(["--queue", "conferencia", "--handler", "conferencia=cat"])
        #expect(waitUntil { h.log.contains("orchestrator.ready") })
        try FileManager.default.moveItem(atPath: "\(h.logDir)/orchestrator.log", toPath: "\(h.logDir)/orchestrator.log.1")
        o.signal(SIGHUP)
        #expect(waitUntil { h.log.contains("logs.reopened") }, "a new orchestrator.log gets the lines")
        #expect(o.status == nil)
        o.signal(SIGTERM)
        #expect(o.wait() == .exited(0))
        #expect(h.log.contains("drain.done"))
    }

    @Test("a queue key holding a string (WRONGTYPE): the orchestrator says so and holds; other queues still scale")
    func wrongType() throws {
        let h = try OrchestratorHarness("owt")
        _ = try h.redis.send(["SET", RedisArg(h.keys("conferencia").pending), "oops"])
        try h.push("emissao", count: 3)
        let o = try h.start(["--handler", "conferencia=cat", "--handler", "emissao=cat"])
        #expect(waitUntil { h.log.contains("queue.unreadable") && h.log.contains("WRONGTYPE") }, "log: \(h.log)")
        #expect(waitUntil { ((try? h.results("emissao").count) ?? 0) == 3 }, "log: \(h.log)")
        #expect(holds(for: .seconds(2.5)) { h.log.components(separatedBy: "queue.unreadable").count - 1 == 1 }, "logged once, not every poll")
        o.signal(SIGTERM)
        #expect(o.wait() == .exited(0))
        #expect(o.output.contains("WRONGTYPE"))
    }
}

@Suite("orchestrator: what a dead worker leaves behind", .requiresRedis, .serialized)
struct LeftoverTests {
    @Test("a worker SIGKILLed while its 'browser' (own session, hung with SIGSTOP) runs: within 5 s nothing of its tree is alive and no zombie stays")
    func hungBrowserDiesWithItsWorker() throws {
        let h = try OrchestratorHarness("hung")
        let tag = "4\(UInt16.random(in: 1000...9999))"
        let script = "\(h.dir)/robot.sh"
        // On its first attempt the handler starts a "browser" in its own session with two
        // "renderers", stops it (hung), and waits; the retry after the kill just succeeds.
        try """
        #!/bin/sh
        [ "$JOB_ATTEMPT" = 1 ] || { echo fine; exit 0; }
        setsid sh -c 'sleep \(tag)1 & sleep \(tag)2 & kill -STOP $$; wait' &
        exec sleep \(tag)3
        """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        try h.push("conferencia", count: 1)
        let o = try h.start(["--queue", "conferencia", "--handler", "conferencia=\(script)", "--poll-interval", "0.2"])
        #expect(waitUntil { processesMatching("sleep \(tag)").count >= 4 }, "log: \(h.log)")  // 3 sleeps and the stopped sh
        let worker = try #require(h.workers(of: o.pid).first)
        kill(worker.pid, SIGKILL)
        #expect(waitUntil(timeout: .seconds(5)) { processesMatching("sleep \(tag)").isEmpty && processesMatching(script).allSatisfy { $0 == o.pid } },
                "left alive: \(processesMatching("sleep \(tag)")) log: \(h.log)")
        #expect(waitUntil(timeout: .seconds(2)) {
            ProcessTree.children(of: o.pid).allSatisfy { ProcessTree.entry($0).map { !$0.isZombie } ?? true }
        }, "zombies under the orchestrator: \(ProcessTree.descendants(of: o.pid).filter(\.isZombie))")
        #expect(waitUntil { (try? h.results("conferencia").first?["attempts"] as? Int) == 2 }, "the retry ran: \(h.log)")
        o.signal(SIGTERM)
        #expect(o.wait() == .exited(0))
    }
}
