import Foundation
import OrchestratorCore
import Testing
import TestSupport

/// What an operator must be able to trust: one bad key does not blind the tools, nothing read from
/// Redis can drive the terminal, a command that would do nothing says so, help says what happens.
@Suite("operator trust: unreadable keys, escaping, refusals, help", .requiresRedis, .serialized)
struct OperatorTrustTests {
    /// No control byte but newlines: nothing printed can retitle, clear or rewrite a terminal.
    static func clean(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { $0 == "\n" || !($0.value < 0x20 || (0x7F...0x9F).contains($0.value)) }
    }

    @Test("a queue key of the wrong type: status (table and JSON), /api/status and /metrics show it unreadable and the others as usual; the alert fires")
    func unreadableQueue() throws {
        let h = try OrchestratorHarness("trustwt")
        try h.push("ok", count: 3)
        _ = try h.redis.send(["HSET", RedisArg(h.keys("wt").pending), "a", "1"])
        let o = try h.start(["--queue", "ok", "--queue", "wt", "--handler", "ok=cat", "--handler", "wt=cat", "--http-listen", "127.0.0.1:0"])
        defer { o.signal(SIGTERM); o.wait() }
        var port = 0
        #expect(waitUntil { port = listeningPort(h.log); return port > 0 && (try? h.results("ok").count) == 3 }, "log: \(h.log)")
        #expect(waitUntil { h.log.contains("[ALERTA] queue_unreadable wt: key \(h.prefix)wt cannot be read (WRONGTYPE") }, "log: \(h.log)")
        let env = ["REDIS_URL": TestEnv.redisURL, "QUEUE_PREFIX": h.prefix]
        let (st, table) = try runToEnd(TestEnv.orchestrator, ["status"], env: env)
        #expect(st == .exited(0) && table.contains("wt (UNREADABLE)") && table.contains("wt: UNREADABLE: key \(h.prefix)wt: WRONGTYPE"), "\(table)")
        #expect(table.contains("queue_unreadable wt"), "the active alert is listed: \(table)")
        let (js, json) = try runToEnd(TestEnv.orchestrator, ["status", "--json"], env: env)
        #expect(js == .exited(0), "\(json)")
        let check = { (json: String, source: String) in
            let queues = jsonObject(Array(json.utf8))["queues"] as? [[String: Any]] ?? []
            let ok = queues.first { $0["queue"] as? String == "ok" }, wt = queues.first { $0["queue"] as? String == "wt" }
            #expect(ok?["jobs_done_total"] as? Int == 3 && ok?["readable"] as? Bool == true && ok?["unreadable_key"] is NSNull, "\(source): \(json)")
            #expect(wt?["readable"] as? Bool == false && wt?["unreadable_key"] as? String == "\(h.prefix)wt", "\(source): \(json)")
            #expect((wt?["unreadable_reason"] as? String)?.hasPrefix("WRONGTYPE") == true, "\(source): \(json)")
        }
        check(json, "status --json")
        let api = httpRequest(port: port, method: "GET", path: "/api/status")
        #expect(api?.status == "HTTP/1.1 200 OK", "\(String(describing: api))")
        check(api?.body ?? "", "/api/status")
        let metrics = httpGet(port: port, path: "/metrics")?.body ?? ""
        #expect(metrics.contains(#"rpa_queue_readable{queue="wt"} 0"#) && metrics.contains(#"rpa_queue_readable{queue="ok"} 1"#), "\(metrics)")
        #expect(metrics.contains(#"rpa_alert_active{rule="queue_unreadable",queue="wt"} 1"#), "\(metrics)")
        #expect(httpGet(port: port, path: "/app.js")?.body.contains("unreadable_key") == true, "the page shows the key")
    }

    @Test("dead, events and alerts print payloads, errors and messages with their control characters escaped")
    func noRawControlBytes() throws {
        let h = try OrchestratorHarness("trustesc")
        let env = ["REDIS_URL": TestEnv.redisURL, "QUEUE_PREFIX": h.prefix]
        let payload = "\u{1B}]0;pwned\u{07}\u{1B}[2Jjob\r"
        try h.redis.lpush(h.keys("q").pending, strings: [payload])
        let worker = try Launched(TestEnv.worker, ["--queue", "q", "--handler", #"printf '\033]0;owned\007\r\033[2J' >&2; exit 1"#, "--max-attempts", "1"],
                                  env: env, outputPath: "\(h.dir)/w.log")
        #expect(waitUntil { (try? h.redis.llen(h.keys("q").dead)) == 1 }, "\(worker.output)")
        worker.signal(SIGTERM)
        #expect(worker.wait() == .exited(0))
        #expect(Self.clean(worker.output), "the worker's own log escapes the handler's stderr: \(worker.output.debugDescription)")
        let (st, out) = try runToEnd(TestEnv.orchestrator, ["dead", "--queue", "q"], env: env)
        #expect(st == .exited(0) && out.contains("q: 1 dead"), "\(out)")
        #expect(Self.clean(out) && out.contains(#"payload \u001b]0;pwned\u0007\u001b[2Jjob\r"#) && out.contains(#"\u001b]0;owned\u0007\r\u001b[2J"#),
                "\(out.debugDescription)")
        _ = try h.redis.send(["XADD", RedisArg(QueueKeys.events(prefix: h.prefix)), "*", "type", "alert_fired", "ts", RedisArg("\(WallClock.nowMilliseconds())"),
                              "rule", "dead_letters", "queue", "q", "message", RedisArg(payload)])
        let (ev, events) = try runToEnd(TestEnv.orchestrator, ["events", "--since", "10m"], env: env)
        #expect(ev == .exited(0) && events.contains("alert_fired") && Self.clean(events), "\(events.debugDescription)")
    }

    @Test("commands that would do nothing say so: resume of a queue not paused, --id matching nothing, --type bogus, --limit 0, both listen flags")
    func refusals() throws {
        let h = try OrchestratorHarness("trustno")
        let env = ["REDIS_URL": TestEnv.redisURL, "QUEUE_PREFIX": h.prefix]
        let run = { (args: [String]) throws -> (TerminationStatus?, String) in try runToEnd(TestEnv.orchestrator, args, env: env) }
        let (resume, resumeOut) = try run(["resume", "--queue", "nonexist"])
        #expect(resume == .exited(64) && resumeOut.contains("--queue: nonexist is not paused (no queue is paused)"), "\(resumeOut)")
        #expect(try run(["pause", "--queue", "p", "--force"]).0 == .exited(0))
        let (resumed, resumedOut) = try run(["resume", "--queue", "p"])
        #expect(resumed == .exited(0) && resumedOut.contains("p: resumed"), "\(resumedOut)")
        try h.redis.lpush(h.keys("q").dead, strings: [#"{"queue":"q","payload":"x","error":"e","attempts":1,"worker":"w","failed_at":"t"}"#])
        let (requeue, requeueOut) = try run(["dead", "--queue", "q", "--requeue", "--id", "00000000"])
        #expect(requeue == .exited(64) && requeueOut.contains("--id: 00000000 matches no dead job in q; nothing was changed"), "\(requeueOut)")
        #expect(try h.redis.llen(h.keys("q").dead) == 1 && h.pending("q") == 0)
        let (limit, limitOut) = try run(["dead", "--queue", "q", "--limit", "0"])
        #expect(limit == .exited(64) && limitOut.contains("--limit: must be at least 1, got 0"), "\(limitOut)")
        let (type, typeOut) = try run(["events", "--type", "bogus"])
        #expect(type == .exited(64) && typeOut.contains("--type: no event has type 'bogus'") && typeOut.contains("worker_exited"), "\(typeOut)")
        let (both, bothOut) = try runToEnd(TestEnv.orchestrator, ["--queue", "q", "--handler", "q=cat", "--http-listen", "127.0.0.1:0",
                                                                  "--metrics-listen", "127.0.0.1:0", "--log-dir", "\(h.dir)/logs"], env: env)
        #expect(both == .exited(64) && bothOut.contains("--http-listen: given together with --metrics-listen"), "\(bothOut)")
    }

    @Test("the API answers 400 naming the value for an unknown event type or a queue it does not know")
    func apiRefusals() throws {
        let h = try OrchestratorHarness("trustapi")
        let o = try h.start(["--queue", "q", "--handler", "q=cat", "--http-listen", "127.0.0.1:0"])
        defer { o.signal(SIGTERM); o.wait() }
        var port = 0
        #expect(waitUntil { port = listeningPort(h.log); return port > 0 }, "log: \(h.log)")
        let type = httpRequest(port: port, method: "GET", path: "/api/events?type=scale,bogus")
        #expect(type?.status == "HTTP/1.1 400 Bad Request" && type?.body.contains("type: no event has type 'bogus'") == true, "\(String(describing: type))")
        let queue = httpRequest(port: port, method: "GET", path: "/api/history?queue=nope")
        #expect(queue?.status == "HTTP/1.1 400 Bad Request" && queue?.body.contains("queue: 'nope' is not shown here") == true, "\(String(describing: queue))")
        #expect(httpRequest(port: port, method: "GET", path: "/api/history?queue=q")?.status == "HTTP/1.1 200 OK")
        #expect(httpRequest(port: port, method: "GET", path: "/api/events?type=scale")?.status == "HTTP/1.1 200 OK")
    }

    @Test("help says what happens: dashboard's listen default, the worker's handler and usage, exit 73; an unresolvable host is named so")
    func helpTexts() throws {
        // Help is wrapped to the terminal's width: compare with runs of blanks made one space.
        let help = { (binary: String, args: [String]) throws -> String in
            try runToEnd(binary, args).1.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        }
        let dashboard = try help(TestEnv.orchestrator, ["dashboard", "--help"])
        let listen = (dashboard.components(separatedBy: "--http-listen <host:port> ").last ?? "").prefix(200)
        #expect(listen.contains("default 127.0.0.1:9464") && !listen.contains("default off") && !listen.contains("/metrics"), "\(dashboard)")
        let worker = try help(TestEnv.worker, ["--help"])
        #expect(worker.contains("USAGE: worker --queue <name> [--slot <n>]") && worker.contains("plain words are started directly"), "\(worker)")
        #expect(!worker.contains("(default: 30s)") && worker.contains("(default 30s)"), "\(worker)")
        let top = try help(TestEnv.orchestrator, ["--help"])
        #expect(top.contains("73 another live orchestrator"), "\(top)")
        let (bad, badOut) = try runToEnd(TestEnv.orchestrator, ["dashboard", "--http-listen", "no-such-host.invalid:0"])
        #expect(bad == .exited(64) && badOut.contains("cannot resolve host 'no-such-host.invalid'") && !badOut.contains("reachable from other machines"), "\(badOut)")
        let history = try help(TestEnv.orchestrator, ["history", "--help"])
        #expect(history.contains("MINUTE START is the start of the minute"), "\(history)")
    }

    @Test("history shows the start of each minute; events --follow starts now (not with the last hour)")
    func historyMinuteAndFollow() throws {
        let h = try OrchestratorHarness("trustfol")
        let env = ["REDIS_URL": TestEnv.redisURL, "QUEUE_PREFIX": h.prefix]
        let end = WallClock.nowMilliseconds() / 60_000 * 60_000
        _ = try h.redis.send(["XADD", RedisArg(QueueKeys.history(prefix: h.prefix, queue: "q")), "*", "minute", RedisArg("\(end)"), "pending", "4", "done", "2"])
        let (st, out) = try runToEnd(TestEnv.orchestrator, ["history", "--queue", "q"], env: env)
        let start = String(WallClock.iso8601(milliseconds: end - 60_000).prefix(16)), shownEnd = String(WallClock.iso8601(milliseconds: end).prefix(16))
        #expect(st == .exited(0) && out.contains("MINUTE START (UTC)") && out.contains(start) && !out.contains(shownEnd), "\(out)")

        let key = RedisArg(QueueKeys.events(prefix: h.prefix))
        _ = try h.redis.send(["XADD", key, "*", "type", "pause", "ts", RedisArg("\(WallClock.nowMilliseconds())"), "queue", "old-event"])
        let follow = try Launched(TestEnv.orchestrator, ["events", "--follow"], env: env, outputPath: "\(h.dir)/follow.out")
        defer { follow.signal(SIGTERM); follow.wait() }
        // It may start reading a little after launch: add new events until one shows.
        #expect(waitUntil {
            _ = try? h.redis.send(["XADD", key, "*", "type", "resume", "ts", RedisArg("\(WallClock.nowMilliseconds())"), "queue", "new-event"])
            return follow.output.contains("new-event")
        }, "\(follow.output)")
        #expect(!follow.output.contains("old-event"), "follow starts now: \(follow.output)")
    }
}
