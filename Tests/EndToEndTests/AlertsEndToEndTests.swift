import Foundation
import OrchestratorCore
import Testing
import TestSupport

@Suite("history and alerts with a real orchestrator", .requiresRedis, .serialized)
struct AlertsEndToEndTests {
    @Test("dead letters raise dead_letters: [ALERTA] line, events stream entry, PUBLISH, --alert-command with JSON, status and `alerts`; then [ALERTA RESOLVIDO]")
    func deadLettersAlert() throws {
        let h = try OrchestratorHarness("alert")
        let channel = QueueKeys.alerts(prefix: h.prefix)
        let subscriber = try Launched("/usr/bin/redis-cli", ["-p", "\(TestEnv.redisPort!)", "SUBSCRIBE", channel], outputPath: "\(h.dir)/sub.txt")
        defer { subscriber.signal(SIGKILL) }
        #expect(waitUntil { subscriber.output.contains("subscribe") })
        let out = "\(h.dir)/alerts"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try h.push("q", count: 1)
        let user = "alert\(UInt16.random(in: 0...UInt16.max))"
        _ = try h.redis.send(["ACL", "SETUSER", RedisArg(user), "on", ">not-for-alert-commands", "~*", "&*", "+@all"])
        defer { _ = try? h.redis.send(["ACL", "DELUSER", RedisArg(user)]) }
        let o = try h.start(["--queue", "q", "--handler", "q=false", "--max-attempts", "1", "--alert-dead-window", "3s",
                             "--alert-command", "cat > \(out)/$$.json; test -z \"$REDIS_PASSWORD\""],
                            env: ["REDIS_URL": "redis://\(user)@127.0.0.1:\(TestEnv.redisPort!)/9", "REDIS_PASSWORD": "not-for-alert-commands"])
        #expect(waitUntil { h.log.contains("[ALERTA] dead_letters q: ") }, "log: \(h.log)")
        let env = ["REDIS_URL": TestEnv.redisURL, "QUEUE_PREFIX": h.prefix]
        let (_, active) = try runToEnd(TestEnv.orchestrator, ["alerts", "--json"], env: env)
        #expect((try? JSONSerialization.jsonObject(with: Data(active.utf8)) as? [[String: Any]])?.first?["rule"] as? String == "dead_letters", "\(active)")
        let (_, status) = try runToEnd(TestEnv.orchestrator, ["status"], env: env)
        #expect(status.contains("ALERT dead_letters q since"), "\(status)")
        #expect(waitUntil { subscriber.output.contains(#""rule":"dead_letters""#) }, "PUBLISH: \(subscriber.output)")
        #expect(waitUntil(timeout: .seconds(15)) { h.log.contains("[ALERTA RESOLVIDO] dead_letters q: cleared after") }, "log: \(h.log)")
        #expect(waitUntil {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
            let states = files.compactMap { jsonObject(Array((try? Data(contentsOf: URL(fileURLWithPath: "\(out)/\($0)"))) ?? Data()))["state"] as? String }
            return states.sorted() == ["fired", "resolved"]
        }, "alert-command received: \((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? [])")
        #expect(!h.log.contains("alert.command_failed"), "the command saw no Redis password and exited 0: \(h.log)")
        var types: [String] = []
        #expect(waitUntil(timeout: .seconds(5)) {
            let events = (try? runToEnd(TestEnv.orchestrator, ["events", "--since", "10m", "--json"], env: env))?.1 ?? ""
            types = events.split(separator: "\n").compactMap { jsonObject(Array($0.utf8))["type"] as? String }
            return ["scale", "worker_spawned", "alert_fired", "alert_resolved"].allSatisfy(types.contains)
        }, "events: \(types)")
        o.signal(SIGTERM)
        #expect(o.wait() == .exited(0))
        let (_, after) = try runToEnd(TestEnv.orchestrator, ["events", "--since", "10m", "--type", "drain_done"], env: env)
        #expect(after.contains("drain_done"), "\(after)")
    }

    @Test("bad alert flags exit 64 naming the flag")
    func badFlags() throws {
        let h = try OrchestratorHarness("alertbad")
        let env = ["REDIS_URL": TestEnv.redisURL, "QUEUE_PREFIX": h.prefix]
        let (a, aOut) = try runToEnd(TestEnv.orchestrator, ["--queue", "q", "--handler", "q=cat", "--alerts-disable", "stuck_job,typo", "--log-dir", h.logDir], env: env)
        #expect(a == .exited(64) && aOut.contains("--alerts-disable: unknown rule 'typo'"), "\(aOut)")
        let (b, bOut) = try runToEnd(TestEnv.orchestrator, ["--queue", "q", "--handler", "q=cat", "--log-dir", h.logDir], env: env.merging(["EVENTS_MAX": "0"]) { $1 })
        #expect(b == .exited(64) && bOut.contains("--events-max (from EVENTS_MAX)"), "\(bOut)")
    }

    @Test("orchestrator history prints the minute samples as a table and as JSON; --history-retention is checked")
    func historyCommand() throws {
        let h = try OrchestratorHarness("histcli")
        let env = ["REDIS_URL": TestEnv.redisURL, "QUEUE_PREFIX": h.prefix]
        _ = try h.redis.send(["XADD", RedisArg(QueueKeys.history(prefix: h.prefix, queue: "q")), "*", "minute", "1795000020000", "pending", "12",
                              "busy", "2", "idle", "1", "draining", "0", "done", "40", "failed", "1", "p95_s", "2.0", "rate_5m", "38.50"])
        let (st, table) = try runToEnd(TestEnv.orchestrator, ["history", "--queue", "q", "--since", "1h"], env: env)
        // `minute` is the sampled minute's end (11:07:00): the table shows its start.
        #expect(st == .exited(0) && table.contains("PENDING") && table.contains("q             2026-11-18T11:06") && table.contains("38.50"), "\(table)")
        let (_, json) = try runToEnd(TestEnv.orchestrator, ["history", "--queue", "q", "--json"], env: env)
        #expect(jsonObject(Array(json.utf8))["done"] as? String == "40", "\(json)")
        let (bad, badOut) = try runToEnd(TestEnv.orchestrator, ["--queue", "q", "--handler", "q=cat", "--history-retention", "0", "--log-dir", h.logDir], env: env)
        #expect(bad == .exited(64) && badOut.contains("--history-retention: must be between 1h and 365d"), "\(badOut)")
    }

    /// Listens where alerts are delivered besides the log: a PUBLISH subscriber, and an
    /// `--alert-command` that saves each notification's JSON.
    final class AlertProbe {
        let subscriber: Launched
        let dir: String
        init(_ h: OrchestratorHarness) throws {
            dir = "\(h.dir)/notified"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            subscriber = try Launched("/usr/bin/redis-cli", ["-p", "\(TestEnv.redisPort!)", "SUBSCRIBE", QueueKeys.alerts(prefix: h.prefix)],
                                      outputPath: "\(h.dir)/subscriber.txt")
            _ = waitUntil { self.subscriber.output.contains("subscribe") }
        }
        deinit { subscriber.signal(SIGKILL) }
        var args: [String] { ["--alert-command", "cat > \(dir)/$$.json"] }
        /// The states the command received for `rule` (each a valid JSON object).
        func states(_ rule: String) -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).compactMap { name -> String? in
                let o = jsonObject(Array((try? Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(name)"))) ?? Data()))
                return o["rule"] as? String == rule ? o["state"] as? String : nil
            }.sorted()
        }
        func expectDelivered(_ rule: String) {
            #expect(waitUntil { self.states(rule).contains("fired") && self.states(rule).contains("resolved") }, "--alert-command got \(self.states(rule))")
            #expect(waitUntil(timeout: .seconds(5)) { self.subscriber.output.contains(#""rule":"\#(rule)""#) && self.subscriber.output.contains(#""state":"resolved""#) },
                    "PUBLISH: \(subscriber.output.suffix(500))")
        }
    }

    /// Waits for the fired and the resolved line of `rule`, and checks both are in the events stream.
    func expectFiredAndResolved(_ h: OrchestratorHarness, _ rule: String, queue: String = "q", redis: RedisConnection? = nil,
                                timeout: Duration = .seconds(40), probe: AlertProbe? = nil) throws {
        let subject = queue.isEmpty ? rule : "\(rule) \(queue)"
        #expect(waitUntil(timeout: timeout) { h.log.contains("[ALERTA] \(subject): ") }, "log: \(h.log)")
        #expect(waitUntil(timeout: timeout) { h.log.contains("[ALERTA RESOLVIDO] \(subject): ") }, "log: \(h.log)")
        // The log line is written first; the stream entry and the PUBLISH follow within the same poll.
        for type in ["alert_fired", "alert_resolved"] {
            var seen: [String] = []
            #expect(waitUntil(timeout: .seconds(5)) {
                let events = (try? EventReader.range(redis ?? h.redis, key: QueueKeys.events(prefix: h.prefix), sinceMilliseconds: 0)) ?? []
                seen = events.map(\.type)
                return events.contains { $0.type == type && $0.fields.contains { $0 == ("rule", rule) } }
            }, "\(type) \(rule) in \(seen)")
        }
        probe?.expectDelivered(rule)
    }

    @Test("stuck_job: a job past 80 % of --job-timeout fires, and resolves once the job is killed")
    func stuckJob() throws {
        let h = try OrchestratorHarness("astuck")
        try h.push("q", count: 1)
        let probe = try AlertProbe(h)
        let o = try h.start(["--queue", "q", "--handler", "q=sleep 30", "--job-timeout", "6s", "--max-attempts", "1"] + probe.args)
        try expectFiredAndResolved(h, "stuck_job", probe: probe)
        o.signal(SIGTERM)
        #expect(o.wait() == .exited(0))
    }

    @Test("cap_reached: --max-total 1 with a long backlog that does not shrink, then resolved when the backlog is gone")
    func capReached() throws {
        let h = try OrchestratorHarness("acap")
        try h.push("q", count: 200)
        let probe = try AlertProbe(h)
        let o = try h.start(["--queue", "q", "--handler", "q=sleep 30", "--max-total", "1", "--alert-cap-for", "2s"] + probe.args)
        #expect(waitUntil(timeout: .seconds(20)) { h.log.contains("[ALERTA] cap_reached q: ") }, "log: \(h.log)")
        _ = try h.redis.send(["DEL", RedisArg(h.keys("q").pending)])  // the backlog is gone: the cap no longer binds
        try expectFiredAndResolved(h, "cap_reached", probe: probe)
        o.signal(SIGTERM)
        #expect(waitUntil { h.log.contains("drain.begin") })
        o.signal(SIGTERM)
        #expect(o.wait() == .exited(0))
    }

    @Test("crash_loop: workers that die on every job fire a critical alert (--alert-crash-loop 3/5s); resolved once the queue is paused and the crashes stop")
    func crashLoop() throws {
        let h = try OrchestratorHarness("acrash")
        try h.push("q", count: 20)
        let probe = try AlertProbe(h)
        let o = try h.start(["--queue", "q", "--handler", "q=kill -9 $PPID", "--max-attempts", "100", "--max-per-queue", "1",
                             "--alert-crash-loop", "3/5s"] + probe.args)
        #expect(waitUntil(timeout: .seconds(40)) { h.log.contains("| CRITICAL | [ALERTA] crash_loop q: 3 worker crashes within 5s") }, "log: \(h.log)")
        // The log line comes first; the events of that poll reach the stream right after it.
        #expect(waitUntil(timeout: .seconds(5)) {
            let events = (try? EventReader.range(h.redis, key: QueueKeys.events(prefix: h.prefix), sinceMilliseconds: 0)) ?? []
            return events.filter { $0.type == "worker_exited" && $0.fields.contains { $0 == ("kind", "crashed") } }.count >= 3
        }, "three crashed worker_exited events in the stream")
        let (paused, _) = try runToEnd(TestEnv.orchestrator, ["pause", "--queue", "q"], env: ["REDIS_URL": TestEnv.redisURL, "QUEUE_PREFIX": h.prefix])
        #expect(paused == .exited(0))
        try expectFiredAndResolved(h, "crash_loop", probe: probe)
        o.signal(SIGTERM)
        #expect(o.wait() == .exited(0))
    }

    @Test("redis_down: fired during the outage, resolved after; the events of the outage reach the stream afterwards")
    func redisDown() throws {
        let redis = try PrivateRedis()
        defer { redis.stop() }
        let dir = TestEnv.scratch("adown")
        try FileManager.default.createDirectory(atPath: "\(dir)/notified", withIntermediateDirectories: true)
        let o = try Launched(TestEnv.orchestrator, ["--queue", "q", "--handler", "q=cat", "--alert-redis-down-for", "2s", "--log-dir", "\(dir)/logs",
                                                    "--alert-command", "cat > \(dir)/notified/$$.json"],
                             env: ["REDIS_URL": redis.url], outputPath: "\(dir)/out.txt")
        let log = { (try? String(contentsOfFile: "\(dir)/logs/orchestrator.log", encoding: .utf8)) ?? "" }
        #expect(waitUntil { log().contains("orchestrator.ready") })
        redis.stop()
        #expect(waitUntil(timeout: .seconds(20)) { log().contains("| CRITICAL | [ALERTA] redis_down: ") }, "log: \(log())")
        try redis.start()
        let subscriber = try Launched("/usr/bin/redis-cli", ["-p", "\(redis.port)", "SUBSCRIBE", QueueKeys.alerts(prefix: "fila:")], outputPath: "\(dir)/sub.txt")
        defer { subscriber.signal(SIGKILL) }
        #expect(waitUntil(timeout: .seconds(20)) { log().contains("[ALERTA RESOLVIDO] redis_down: ") }, "log: \(log())")
        // The fired notice could not be published (Redis was down); the command got it, and the resolved one is published.
        #expect(waitUntil { subscriber.output.contains(#""rule":"redis_down","queue":"","state":"resolved""#) }, "PUBLISH: \(subscriber.output)")
        #expect(waitUntil {
            let saved = ((try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/notified")) ?? []).map {
                jsonObject(Array((try? Data(contentsOf: URL(fileURLWithPath: "\(dir)/notified/\($0)"))) ?? Data()))["state"] as? String ?? "?"
            }
            return saved.sorted() == ["fired", "resolved"]
        }, "--alert-command: \((try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/notified")) ?? [])")
        let c = RedisConnection(endpoint: RedisEndpoint(host: "127.0.0.1", port: redis.port))
        try c.connect()
        var types: [String] = []
        #expect(waitUntil {
            types = ((try? EventReader.range(c, key: QueueKeys.events(prefix: "fila:"), sinceMilliseconds: 0)) ?? []).map(\.type)
            return types.contains("redis_down") && types.contains("alert_fired") && types.contains("redis_up") && types.contains("alert_resolved")
        }, "events after the outage: \(types)")
        o.signal(SIGTERM)
        #expect(o.wait() == .exited(0))
    }

    @Test("an --alert-command that hangs is killed after 10 s and logged, and never stops the orchestrator")
    func badAlertCommand() throws {
        let h = try OrchestratorHarness("acmd")
        try h.push("q", count: 2)
        let o = try h.start(["--queue", "q", "--handler", "q=false", "--max-attempts", "1", "--alert-dead-window", "60s",
                             "--alert-command", "no-such-alert-program-7 || sleep 60"])
        #expect(waitUntil { h.log.contains("[ALERTA] dead_letters q: ") }, "log: \(h.log)")
        #expect(waitUntil(timeout: .seconds(20)) { h.log.contains("alert.command_failed") && h.log.contains("still running after 10 s: killed") }, "log: \(h.log)")
        #expect(waitUntil(timeout: .seconds(3)) {
            processesMatching("sleep 60").filter { pid in ProcessTree.entry(pid).map { $0.ppid == o.pid } ?? false }.isEmpty
        }, "the hung command is gone (killed with its group and reaped)")
        try h.push("q", count: 1)
        #expect(waitUntil { (try? h.redis.llen(h.keys("q").dead)) == 3 }, "the orchestrator keeps working: \(h.log)")
        o.signal(SIGTERM)
        #expect(o.wait() == .exited(0))
    }

    @Test("no_progress: pending jobs and busy workers but nothing completed for --alert-no-progress-for; resolved when the backlog is gone")
    func noProgress() throws {
        let h = try OrchestratorHarness("anoprog")
        try h.push("q", count: 5)
        let probe = try AlertProbe(h)
        let o = try h.start(["--queue", "q", "--handler", "q=sleep 30", "--max-per-queue", "1", "--alert-no-progress-for", "2s"] + probe.args)
        #expect(waitUntil(timeout: .seconds(20)) { h.log.contains("[ALERTA] no_progress q: ") }, "log: \(h.log)")
        _ = try h.redis.send(["DEL", RedisArg(h.keys("q").pending)])
        try expectFiredAndResolved(h, "no_progress", probe: probe)
        o.signal(SIGTERM)
        #expect(waitUntil { h.log.contains("drain.begin") })
        o.signal(SIGTERM)
        #expect(o.wait() == .exited(0))
    }

    @Test("worker_memory: a worker tree above 90 % of --max-worker-rss-mb for 2 polls fires; resolved once the worker is recycled after its job")
    func workerMemory() throws {
        let h = try OrchestratorHarness("amem")
        let flag = "\(h.dir)/lean", script = "\(h.dir)/fat.py"
        // A persistent handler holding 300 MB while its job runs (15 s); the next one is lean.
        try """
        import os, sys, time
        lean = os.path.exists("\(flag)")
        block = None if lean else bytearray(os.urandom(1 << 20)) * 300
        for line in sys.stdin:
            if not lean:
                time.sleep(15)
            print('{"status":"ok"}', flush=True)
        """.write(toFile: script, atomically: true, encoding: .utf8)
        try h.push("q", count: 1)
        let probe = try AlertProbe(h)
        let o = try h.start(["--queue", "q", "--handler", "q=python3 \(script)", "--handler-mode", "persistent",
                             "--max-worker-rss-mb", "250", "--poll-interval", "0.5"] + probe.args)
        #expect(waitUntil(timeout: .seconds(30)) { h.log.contains("[ALERTA] worker_memory q: worker q-1 uses") }, "log: \(h.log)")
        FileManager.default.createFile(atPath: flag, contents: nil)
        // After its job the fat worker is recycled (exit 75): the alert clears.
        try expectFiredAndResolved(h, "worker_memory", probe: probe)
        o.signal(SIGTERM)
        #expect(o.wait() == .exited(0))
    }
}
