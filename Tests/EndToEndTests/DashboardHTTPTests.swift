import Foundation
import OrchestratorCore
import Testing
import TestSupport

@Suite("dashboard HTTP: the API, tokens, bad requests and secrets", .requiresRedis)
struct DashboardHTTPTests {
    static let token = "tok-\(UInt64.random(in: 1...UInt64.max))-abcdef"

    /// An orchestrator with the dashboard on a free loopback port; returns it and the port.
    func serve(_ h: OrchestratorHarness, _ args: [String] = [], env: [String: String] = ["HTTP_TOKEN": Self.token], job: String = "sleep 20") throws -> (Launched, Int) {
        let o = try h.start(["--queue", "conferencia", "--queue", "emissao", "--handler", "conferencia=\(job)", "--handler", "emissao=cat",
                             "--http-listen", "127.0.0.1:0"] + args, env: env)
        var port = 0
        _ = waitUntil { port = listeningPort(h.log); return port > 0 }
        return (o, port)
    }

    func stop(_ o: Launched) {
        o.signal(SIGTERM)
        o.signal(SIGTERM)
        _ = o.wait()
    }

    @Test("the API answers with the CLI's JSON; actions need POST and the Bearer token (401 without, 405 for GET, 404 for a queue not watched)")
    func api() throws {
        let h = try OrchestratorHarness("dapi")
        try h.push("conferencia", count: 120)
        let (o, port) = try serve(h, job: "sleep 3")
        defer { stop(o) }
        #expect(port > 0, "log: \(h.log)")
        #expect(waitUntil { (httpRequest(port: port, method: "GET", path: "/api/status")?.body ?? "").contains(#""busy":3"#) })
        let status = jsonObject(Array((httpRequest(port: port, method: "GET", path: "/api/status")?.body ?? "").utf8))
        let queues = (status["queues"] as? [[String: Any]]) ?? []
        #expect(queues.map { $0["queue"] as? String } == ["conferencia", "emissao"], "\(status)")
        #expect((114...117).contains(queues.first?["pending"] as? Int ?? 0) && queues.first?["target"] as? Int == 3, "\(queues)")
        #expect((status["workers"] as? [[String: Any]])?.first?["started_at"] is String)
        let config = jsonObject(Array((httpRequest(port: port, method: "GET", path: "/api/config")?.body ?? "").utf8))
        #expect(config["actions"] as? Bool == true && config["mode"] as? String == "run")

        let unauthorized = httpRequest(port: port, method: "POST", path: "/api/queues/conferencia/pause")
        #expect(unauthorized?.status == "HTTP/1.1 401 Unauthorized", "\(String(describing: unauthorized))")
        let wrong = httpRequest(port: port, method: "POST", path: "/api/queues/conferencia/pause", headers: ["Authorization: Bearer \(Self.token)x"])
        #expect(wrong?.status == "HTTP/1.1 401 Unauthorized")
        #expect(try h.redis.send(["SMEMBERS", RedisArg(QueueKeys.paused(prefix: h.prefix))]).array?.isEmpty == true, "nothing paused yet")
        let get = httpRequest(port: port, method: "GET", path: "/api/queues/conferencia/pause", headers: ["Authorization: Bearer \(Self.token)"])
        #expect(get?.status == "HTTP/1.1 405 Method Not Allowed" && get?.headers.contains { $0.lowercased() == "allow: post" } == true, "\(String(describing: get))")
        let other = httpRequest(port: port, method: "POST", path: "/api/queues/elsewhere/pause", headers: ["Authorization: Bearer \(Self.token)"])
        #expect(other?.status == "HTTP/1.1 404 Not Found")

        let paused = httpRequest(port: port, method: "POST", path: "/api/queues/conferencia/pause", headers: ["Authorization: Bearer \(Self.token)"])
        #expect(paused?.status == "HTTP/1.1 200 OK" && paused?.body == #"{"queue":"conferencia","action":"pause"}"#)
        #expect(waitUntil { (try? h.busyWorkers().count) == 0 }, "the paused queue's workers drain: \(h.log)")
        let events = httpRequest(port: port, method: "GET", path: "/api/events?since=10m&type=pause,scale&limit=5")?.body ?? ""
        let types = (try? JSONSerialization.jsonObject(with: Data(events.utf8)) as? [[String: Any]])?.compactMap { $0["type"] as? String } ?? []
        #expect(types.first == "scale" || types.first == "pause", "newest first, only those types: \(events)")
        #expect(types.contains("pause") && Set(types).isSubset(of: ["pause", "scale"]), "\(events)")
        let resumed = httpRequest(port: port, method: "POST", path: "/api/queues/conferencia/resume", headers: ["Authorization: Bearer \(Self.token)"])
        #expect(resumed?.status == "HTTP/1.1 200 OK")
        #expect(waitUntil { (try? h.busyWorkers().count) == 3 }, "resumed: \(h.log)")
        #expect(h.log.contains("dashboard.action action=pause client=127.0.0.1 queue=conferencia"), "actions are logged, with the client: \(h.log)")
    }

    @Test("SIGTERM: the page answers through the drain, then the HTTP server stops (http.stopped after drain.done), exit 0, no trap")
    func stopsAfterTheDrain() throws {
        let h = try OrchestratorHarness("dstop")
        try h.push("conferencia", count: 1)
        let (o, port) = try serve(h, job: "sleep 2; cat")
        #expect(port > 0, "log: \(h.log)")
        #expect(waitUntil { (httpRequest(port: port, method: "GET", path: "/api/status")?.body ?? "").contains(#""busy":1"#) }, "log: \(h.log)")
        o.signal(SIGTERM)
        #expect(waitUntil { h.log.contains("drain.begin") })
        let during = httpRequest(port: port, method: "GET", path: "/api/status")
        #expect(during?.status == "HTTP/1.1 200 OK", "the page answers while the busy worker finishes: \(String(describing: during))")
        #expect(o.wait() == .exited(0), "output: \(o.output)")
        let log = h.log
        let done = log.range(of: "drain.done")?.lowerBound, stopped = log.range(of: "http.stopped")?.lowerBound
        #expect(done.flatMap { d in stopped.map { d < $0 } } == true, "http.stopped after drain.done; log: \(log)")
        #expect(!o.output.contains("Fatal error") && !o.output.contains("deinited"), "output: \(o.output)")
        #expect(httpRequest(port: port, method: "GET", path: "/livez") == nil, "the port is closed")
    }

    @Test("bad requests: 404, 405, 413 for a body over 1 KB, 400 for oversized headers, 400 for bad parameters; a client that trickles is cut off")
    func badRequests() throws {
        let h = try OrchestratorHarness("dbad")
        let (o, port) = try serve(h)
        defer { stop(o) }
        #expect(httpRequest(port: port, method: "GET", path: "/nope")?.status == "HTTP/1.1 404 Not Found")
        #expect(httpRequest(port: port, method: "DELETE", path: "/api/status")?.status == "HTTP/1.1 405 Method Not Allowed")
        let big = httpRequest(port: port, method: "POST", path: "/api/queues/conferencia/pause", headers: ["Authorization: Bearer \(Self.token)"],
                              body: String(repeating: "x", count: 4096))
        #expect(big?.status.hasPrefix("HTTP/1.1 413 ") == true, "\(String(describing: big?.status))")
        let header = httpRequest(port: port, method: "GET", path: "/api/status", headers: ["X-Big: " + String(repeating: "y", count: 20_000)])
        #expect(header?.status == "HTTP/1.1 400 Bad Request", "\(String(describing: header?.status))")
        let noQueue = httpRequest(port: port, method: "GET", path: "/api/history")
        #expect(noQueue?.status == "HTTP/1.1 400 Bad Request" && noQueue?.body.contains("queue:") == true)
        #expect(httpRequest(port: port, method: "GET", path: "/api/history?queue=q&since=yesterday")?.status == "HTTP/1.1 400 Bad Request")
        #expect(httpRequest(port: port, method: "GET", path: "/api/events?limit=0")?.status == "HTTP/1.1 400 Bad Request")
        let head = httpRequest(port: port, method: "HEAD", path: "/")
        #expect(head?.status == "HTTP/1.1 200 OK" && head?.body == "")

        // A client that sends half a request line and then nothing: closed by the server within the 10 s request timeout.
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(s) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let partial = Array("GET /api/status HTTP/1.1\r\nHost: x\r\n".utf8)
        _ = partial.withUnsafeBytes { send(s, $0.baseAddress!, $0.count, 0) }
        let started = ContinuousClock.now
        var buf = [UInt8](repeating: 0, count: 256)
        let n = recv(s, &buf, buf.count, 0)
        let waited = ContinuousClock.now - started
        #expect(n == 0 && waited < .seconds(15), "closed (n=\(n), errno \(errno)) after \(waited)")
        #expect(httpRequest(port: port, method: "GET", path: "/livez")?.status == "HTTP/1.1 200 OK", "the server still answers others")
    }

    @Test("a non-loopback address without a token exits 64 saying why; with HTTP_TOKEN it serves; a short token is refused")
    func binding() throws {
        let h = try OrchestratorHarness("dbind")
        let env = ["REDIS_URL": TestEnv.redisURL, "QUEUE_PREFIX": h.prefix, "LOG_DIR": h.logDir]
        let (code, out) = try runToEnd(TestEnv.orchestrator, ["--queue", "q", "--handler", "q=cat", "--http-listen", "0.0.0.0:0"], env: env)
        #expect(code == .exited(64) && out.contains("--http-listen: '0.0.0.0' is reachable from other machines"), "\(out)")
        let (short, shortOut) = try runToEnd(TestEnv.orchestrator, ["--queue", "q", "--handler", "q=cat", "--http-listen", "0.0.0.0:0"],
                                             env: env.merging(["HTTP_TOKEN": "abc"]) { $1 })
        #expect(short == .exited(64) && shortOut.contains("--http-token (from HTTP_TOKEN): the token must be at least 16") && !shortOut.contains("abc"), "\(shortOut)")
        let (o, port) = try serve(h, ["--http-listen", "0.0.0.0:0"])
        defer { stop(o) }
        #expect(port > 0 && httpRequest(port: port, method: "GET", path: "/api/config")?.status == "HTTP/1.1 200 OK", "log: \(h.log)")
        #expect(h.log.contains("actions=on"))
    }

    @Test("no secret in any answer: the Redis password, the HTTP token and the handler's credentials never show")
    func noSecrets() throws {
        let h = try OrchestratorHarness("dsecret")
        let user = "dash\(UInt16.random(in: 0...UInt16.max))"
        let password = "Pw-\(UInt32.random(in: 0...UInt32.max))-redis"
        let rpa = "Rpa-\(UInt32.random(in: 0...UInt32.max))-secret"
        _ = try h.redis.send(["ACL", "SETUSER", RedisArg(user), "on", RedisArg(">\(password)"), "~*", "&*", "+@all"])
        defer { _ = try? h.redis.send(["ACL", "DELUSER", RedisArg(user)]) }
        try h.push("conferencia", count: 60)
        try h.push("emissao", count: 3)
        let (o, port) = try serve(h, ["--max-attempts", "1"], env: ["REDIS_URL": "redis://\(user)@127.0.0.1:\(TestEnv.redisPort!)/9",
                                                                 "REDIS_PASSWORD": password, "HTTP_TOKEN": Self.token, "RPA_PASSWORD": rpa])
        defer { stop(o) }
        #expect(waitUntil { (httpRequest(port: port, method: "GET", path: "/api/status")?.body ?? "").contains(#""busy":2"#) }, "log: \(h.log)")
        _ = httpRequest(port: port, method: "POST", path: "/api/queues/emissao/requeue-dead", headers: ["Authorization: Bearer \(Self.token)"])
        for path in ["/", "/app.js", "/app.css", "/metrics", "/livez", "/readyz", "/api/status", "/api/config", "/api/alerts", "/api/events?since=1h&limit=1000",
                     "/api/history?queue=conferencia&since=7d", "/api/queues/emissao/pause", "/nope"] {
            for method in ["GET", "POST"] {
                let r = httpRequest(port: port, method: method, path: path)
                #expect(r != nil, "\(method) \(path) answered")
                let all = (r?.headers.joined(separator: "\n") ?? "") + (r?.body ?? "")
                #expect(!all.contains(password) && !all.contains(Self.token) && !all.contains(rpa), "\(method) \(path) leaks a secret")
            }
        }
        #expect(!h.log.contains(password) && !h.log.contains(Self.token))
    }

    @Test("orchestrator dashboard: a read-only viewer of a running orchestrator's Redis; no actions without a token (403); Redis down answers 503")
    func viewer() throws {
        let redis = try PrivateRedis()
        defer { redis.stop() }
        let dir = TestEnv.scratch("dviewer")
        let o = try Launched(TestEnv.orchestrator, ["--queue", "q", "--handler", "q=sleep 5", "--log-dir", "\(dir)/logs"],
                             env: ["REDIS_URL": redis.url], outputPath: "\(dir)/orch.txt")
        defer { o.signal(SIGTERM); o.signal(SIGTERM); _ = o.wait() }
        let viewer = try Launched(TestEnv.orchestrator, ["dashboard", "--http-listen", "127.0.0.1:0"], env: ["REDIS_URL": redis.url],
                                  outputPath: "\(dir)/viewer.txt")
        var port = 0
        #expect(waitUntil { port = listeningPort(viewer.output); return port > 0 }, "\(viewer.output)")
        #expect(waitUntil { (httpRequest(port: port, method: "GET", path: "/api/status")?.body ?? "").contains(#""running":true"#) })
        #expect(jsonObject(Array((httpRequest(port: port, method: "GET", path: "/api/config")?.body ?? "").utf8))["actions"] as? Bool == false)
        let refused = httpRequest(port: port, method: "POST", path: "/api/queues/q/pause", headers: ["Authorization: Bearer whatever-you-like-1234"])
        #expect(refused?.status == "HTTP/1.1 403 Forbidden" && refused?.body.contains("read-only") == true, "\(String(describing: refused))")
        #expect(httpRequest(port: port, method: "GET", path: "/metrics")?.status == "HTTP/1.1 404 Not Found")
        redis.stop()
        #expect(waitUntil { httpRequest(port: port, method: "GET", path: "/api/status")?.status == "HTTP/1.1 503 Service Unavailable" })
        #expect(httpRequest(port: port, method: "GET", path: "/api/status")?.body.contains("redis unreachable") == true)
        try redis.start()
        #expect(waitUntil { httpRequest(port: port, method: "GET", path: "/api/status")?.status == "HTTP/1.1 200 OK" }, "recovers")
        viewer.signal(SIGTERM)
        #expect(viewer.wait() == .exited(0))
    }
}
