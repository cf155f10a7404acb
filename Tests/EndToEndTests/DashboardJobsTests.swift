import Foundation
import OrchestratorCore
import Testing
import TestSupport

/// The on-call API (`/api/dead`, `/api/jobs/ID`, requeue/delete/retry-now) and `orchestrator job`,
/// against a real redis-server through `orchestrator dashboard` (no workers, so jobs stay put).
@Suite("dashboard jobs API and orchestrator job", .requiresRedis)
struct DashboardJobsTests {
    static let token = "tok-\(UInt64.random(in: 1...UInt64.max))-jobs"
    static let auth = ["Authorization: Bearer \(token)"]
    static let plainDead = "dead-a"
    static var plainDeadID: String { SHA1.hex(Array(plainDead.utf8)) }

    /// One job in each state in queue `q`: two dead letters (a plain one, then a binary one with an
    /// instance id, the newest), one pending, one held by a worker, one waiting for retry, two done.
    func seed(_ h: OrchestratorHarness) throws {
        let k = h.keys("q")
        let a = DeadLetter(queue: "q", payload: Array(Self.plainDead.utf8), error: "boom\nsecond line", attempts: 3, worker: "w-1",
                           failedAt: "2026-12-04T10:00:00.000Z")
        let b = DeadLetter(queue: "q", payload: [0xFF, 0xFE], error: "binary", attempts: 2, worker: "w-2", failedAt: "2026-12-04T11:00:00.000Z",
                           jobID: "inst-b")
        try h.redis.lpush(k.dead, [a.encoded, b.encoded])
        try h.redis.lpush(k.pending, strings: ["pend-1"])
        try h.redis.lpush(k.processing("q-1-box-99"), strings: ["fly-1"])
        _ = try h.redis.send(["ZADD", RedisArg(k.retry), "4102444800000", RedisArg("tag\n" + "retry-1")])
        let done = ResultRecord(queue: "q", payload: Array("done-1".utf8), status: .ok, output: .bytes(Array("fine".utf8)), error: nil, attempts: 1,
                                worker: "w-3", jobID: SHA1.hex(Array("done-1".utf8)), startedAt: "s", finishedAt: "f")
        try h.redis.lpush(k.results, [done.encoded])
        var byID = done
        byID.jobID = "inst-d"
        _ = try h.redis.send(["SET", RedisArg(QueueKeys.resultByID(prefix: h.prefix, "inst-d")), RedisArg(bytes: byID.encoded)])
    }

    func viewer(_ h: OrchestratorHarness) throws -> (Launched, Int) {
        let v = try h.start(["dashboard", "--queue", "q", "--http-listen", "127.0.0.1:0"], env: ["HTTP_TOKEN": Self.token])
        var port = 0
        _ = waitUntil { port = listeningPort(v.output); return port > 0 }
        return (v, port)
    }

    func get(_ port: Int, _ path: String, headers: [String] = DashboardJobsTests.auth) -> (status: String, json: [String: Any]) {
        let r = httpRequest(port: port, method: "GET", path: path, headers: headers)
        return (r?.status ?? "none", jsonObject(Array((r?.body ?? "").utf8)))
    }

    @Test("GET /api/dead lists dead letters newest first (payload or payload_base64), pages with limit/offset, 400 for bad numbers")
    func deadList() throws {
        let h = try OrchestratorHarness("djdead")
        try seed(h)
        let (v, port) = try viewer(h)
        defer { v.signal(SIGTERM); _ = v.wait() }
        #expect(port > 0, "\(v.output)")
        let all = get(port, "/api/dead?queue=q")
        #expect(all.status == "HTTP/1.1 200 OK" && all.json["queue"] as? String == "q" && all.json["total"] as? Int == 2, "\(all)")
        let items = all.json["items"] as? [[String: Any]] ?? []
        #expect(items.map { $0["id"] as? String } == ["inst-b", Self.plainDeadID], "\(items)")
        #expect(items.first?["payload_base64"] as? String == "//4=" && items.first?["payload"] == nil)
        #expect(items.last?["payload"] as? String == Self.plainDead && items.last?["error"] as? String == "boom\nsecond line")
        #expect(items.last?["attempts"] as? Int == 3 && items.last?["worker"] as? String == "w-1"
                && items.last?["failed_at"] as? String == "2026-12-04T10:00:00.000Z")
        let page = get(port, "/api/dead?queue=q&limit=1&offset=1")
        #expect((page.json["items"] as? [[String: Any]])?.map { $0["id"] as? String } == [Self.plainDeadID] && page.json["total"] as? Int == 2)
        for (query, word) in [("limit=0", "limit:"), ("limit=501", "limit:"), ("limit=x", "limit:"), ("offset=-1", "offset:")] {
            let r = httpRequest(port: port, method: "GET", path: "/api/dead?queue=q&\(query)", headers: Self.auth)
            #expect(r?.status == "HTTP/1.1 400 Bad Request" && r?.body.contains(word) == true, "\(query): \(String(describing: r))")
        }
        #expect(httpRequest(port: port, method: "GET", path: "/api/dead", headers: Self.auth)?.status == "HTTP/1.1 400 Bad Request")
        #expect(get(port, "/api/dead?queue=q", headers: []).status == "HTTP/1.1 401 Unauthorized", "payloads behind the token")
    }

    @Test("GET /api/jobs/ID: each state with what goes with it; 404 for an unknown id")
    func locate() throws {
        let h = try OrchestratorHarness("djjob")
        try seed(h)
        let (v, port) = try viewer(h)
        defer { v.signal(SIGTERM); _ = v.wait() }
        let sha = { (s: String) in SHA1.hex(Array(s.utf8)) }
        let pending = get(port, "/api/jobs/\(sha("pend-1"))").json
        #expect(pending["state"] as? String == "pending" && pending["queue"] as? String == "q" && pending["id"] as? String == sha("pend-1"), "\(pending)")
        let flying = get(port, "/api/jobs/\(sha("fly-1"))").json
        #expect(flying["state"] as? String == "in_flight" && flying["worker"] as? String == "q-1-box-99", "\(flying)")
        let retry = get(port, "/api/jobs/\(sha("retry-1"))").json
        #expect(retry["state"] as? String == "retry" && retry["due_at"] as? String == "2100-01-01T00:00:00.000Z", "\(retry)")
        let dead = get(port, "/api/jobs/\(Self.plainDeadID)").json
        #expect(dead["state"] as? String == "dead" && dead["error"] as? String == "boom\nsecond line" && dead["attempts"] as? Int == 3, "\(dead)")
        let done = get(port, "/api/jobs/\(sha("done-1"))").json
        #expect(done["state"] as? String == "done" && (done["result"] as? [String: Any])?["output"] as? String == "fine", "\(done)")
        let byID = get(port, "/api/jobs/inst-d").json
        #expect(byID["state"] as? String == "done" && (byID["result"] as? [String: Any])?["job_id"] as? String == "inst-d", "\(byID)")
        let missing = get(port, "/api/jobs/\(sha("nowhere"))")
        #expect(missing.status == "HTTP/1.1 404 Not Found" && (missing.json["error"] as? String)?.contains("not found") == true, "\(missing)")
    }

    @Test("POST requeue/delete/retry-now: 401 without the token, atomic moves, 404 for an id not dead, logged and in the events with the client")
    func actions() throws {
        let h = try OrchestratorHarness("djact")
        try seed(h)
        let k = h.keys("q")
        let (v, port) = try viewer(h)
        defer { v.signal(SIGTERM); _ = v.wait() }
        let requeuePath = "/api/queues/q/dead/\(Self.plainDeadID)/requeue"
        #expect(httpRequest(port: port, method: "POST", path: requeuePath)?.status == "HTTP/1.1 401 Unauthorized")
        #expect(try h.redis.llen(k.dead) == 2, "nothing changed without the token")
        let requeued = httpRequest(port: port, method: "POST", path: requeuePath, headers: Self.auth)
        #expect(requeued?.status == "HTTP/1.1 200 OK" && jsonObject(Array((requeued?.body ?? "").utf8))["requeued"] as? Int == 1, "\(String(describing: requeued))")
        #expect(try h.redis.lrange(k.pending).map { String(decoding: $0, as: UTF8.self) }.contains(Self.plainDead), "back in the queue")
        #expect(try h.redis.llen(k.dead) == 1, "gone from dead")
        #expect(get(port, "/api/jobs/\(Self.plainDeadID)").json["state"] as? String == "pending")
        #expect(httpRequest(port: port, method: "POST", path: requeuePath, headers: Self.auth)?.status == "HTTP/1.1 404 Not Found")

        let delete = httpRequest(port: port, method: "POST", path: "/api/queues/q/dead/inst-b/delete", headers: Self.auth)
        #expect(delete?.status == "HTTP/1.1 200 OK" && jsonObject(Array((delete?.body ?? "").utf8))["deleted"] as? Int == 1)
        #expect(try h.redis.llen(k.dead) == 0)

        let promoted = httpRequest(port: port, method: "POST", path: "/api/queues/q/retry-now", headers: Self.auth)
        #expect(promoted?.status == "HTTP/1.1 200 OK" && jsonObject(Array((promoted?.body ?? "").utf8))["promoted"] as? Int == 1)
        #expect(try h.redis.send(["ZCARD", RedisArg(k.retry)]).int == 0)
        #expect(try h.redis.lrange(k.pending).last.map { String(decoding: $0, as: UTF8.self) } == "retry-1", "at the front of the queue")

        try h.redis.lpush(k.dead, [DeadLetter(queue: "q", payload: Array("x".utf8), error: "e", attempts: 1, worker: "w", failedAt: "t").encoded,
                                   DeadLetter(queue: "q", payload: Array("y".utf8), error: "e", attempts: 1, worker: "w", failedAt: "t").encoded])
        #expect(httpRequest(port: port, method: "POST", path: "/api/queues/q/dead/requeue-all")?.status == "HTTP/1.1 401 Unauthorized")
        let all = httpRequest(port: port, method: "POST", path: "/api/queues/q/dead/delete-all", headers: Self.auth)
        #expect(all?.status == "HTTP/1.1 200 OK" && jsonObject(Array((all?.body ?? "").utf8))["deleted"] as? Int == 2, "\(String(describing: all))")
        #expect(httpRequest(port: port, method: "GET", path: "/api/queues/q/retry-now", headers: Self.auth)?.status == "HTTP/1.1 405 Method Not Allowed")

        #expect(httpRequest(port: port, method: "POST", path: "/api/queues/q/pause", headers: Self.auth)?.status == "HTTP/1.1 200 OK")
        #expect(httpRequest(port: port, method: "POST", path: "/api/queues/q/requeue-dead", headers: Self.auth)?.body == #"{"queue":"q","action":"requeue-dead","requeued":0}"#)
        #expect(waitUntil { v.output.contains("dashboard.action action=requeue client=127.0.0.1 id=\(Self.plainDeadID) queue=q") }, "\(v.output)")
        let events = try h.redis.send(["XRANGE", RedisArg(QueueKeys.events(prefix: h.prefix)), "-", "+"]).array ?? []
        let flat = events.compactMap { $0.array?.last?.array?.compactMap(\.text) }.map { $0.joined(separator: " ") }
        #expect(flat.contains { $0.hasPrefix("type dead_requeue") && $0.contains("id \(Self.plainDeadID)") && $0.contains("client 127.0.0.1") }, "\(flat)")
        #expect(flat.contains { $0.hasPrefix("type dead_delete") && $0.contains("id inst-b") } && flat.contains { $0.hasPrefix("type retry_now") }, "\(flat)")
        #expect(flat.contains { $0.hasPrefix("type pause") && $0.hasSuffix("queue q client 127.0.0.1") }, "the old actions carry the client too: \(flat)")
        #expect(flat.contains { $0.hasPrefix("type dead_requeue") && $0.hasSuffix("queue q jobs 0 client 127.0.0.1") }, "\(flat)")
    }

    @Test("orchestrator job ID: the same lookup; exit 0 found, 1 not found, 64 bad id, 69 Redis unreachable")
    func cli() throws {
        let h = try OrchestratorHarness("djcli")
        try seed(h)
        let env = ["REDIS_URL": TestEnv.redisURL, "QUEUE_PREFIX": h.prefix]
        let (code, out) = try runToEnd(TestEnv.orchestrator, ["job", Self.plainDeadID, "--queue", "q"], env: env)
        #expect(code == .exited(0) && out.contains("\(Self.plainDeadID)  q  dead  attempts 3") && out.contains("error: boom\\nsecond line"), "\(out)")
        let (jcode, json) = try runToEnd(TestEnv.orchestrator, ["job", "inst-d", "--queue", "q", "--json"], env: env)
        #expect(jcode == .exited(0) && jsonObject(Array(json.utf8))["state"] as? String == "done", "\(json)")
        let (fcode, fly) = try runToEnd(TestEnv.orchestrator, ["job", SHA1.hex(Array("fly-1".utf8)), "--queue", "q"], env: env)
        #expect(fcode == .exited(0) && fly.contains("in_flight  worker q-1-box-99"), "\(fly)")
        let (missing, mout) = try runToEnd(TestEnv.orchestrator, ["job", "nope-nope", "--queue", "q"], env: env)
        #expect(missing == .exited(1) && mout.contains("not found"), "\(mout)")
        let (bad, bout) = try runToEnd(TestEnv.orchestrator, ["job", "a b", "--queue", "q"], env: env)
        #expect(bad == .exited(64) && bout.contains("not a job id"), "\(bout)")
        let (down, dout) = try runToEnd(TestEnv.orchestrator, ["job", "inst-d", "--queue", "q"], env: ["REDIS_URL": "redis://127.0.0.1:1/0"])
        #expect(down == .exited(69), "\(dout)")
    }
}
