import Foundation
import OrchestratorCore
import Testing
import TestSupport

@Suite("dashboard: queue names that need URL encoding, refusals logged, client and host recorded", .requiresRedis)
struct DashboardTrustTests {
    static let token = "trust-\(UInt64.random(in: 1...UInt64.max))-abcdef"
    /// Names the queue rules accept (README: no spaces, ':', ',', '/' or glob characters) that a URL must encode.
    static let oddNames = ["ação", "a<b>", "x#y", "q\"x"]

    func serve(_ h: OrchestratorHarness, queues: [String], hostID: String) throws -> (Launched, Int) {
        let args = queues.flatMap { ["--queue", $0, "--handler", "\($0)=cat"] }
        let o = try h.start(args + ["--http-listen", "127.0.0.1:0", "--host-id", hostID], env: ["HTTP_TOKEN": Self.token])
        var port = 0
        _ = waitUntil { port = listeningPort(h.log); return port > 0 }
        return (o, port)
    }

    /// What the page's `encodeURIComponent(name)` sends.
    func encodeURIComponent(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            let c = Character(Unicode.Scalar(b))
            if b < 128, c.isLetter || c.isNumber || "-_.!~*'()".contains(c) { out.append(c) } else { out += String(format: "%%%02X", b) }
        }
        return out
    }

    @Test("Pause, Resume and Requeue answer 200 for ação, a<b>, x#y and q\"x sent as encodeURIComponent(name)")
    func encodedNames() throws {
        let h = try OrchestratorHarness("denc")
        let (o, port) = try serve(h, queues: Self.oddNames, hostID: "enc-host")
        defer { o.signal(SIGTERM); _ = o.wait() }
        #expect(port > 0, "\(h.log)")
        let auth = ["Authorization: Bearer \(Self.token)"]
        for name in Self.oddNames {
            let path = "/api/queues/\(encodeURIComponent(name))"
            let paused = httpRequest(port: port, method: "POST", path: "\(path)/pause", headers: auth)
            #expect(paused?.status == "HTTP/1.1 200 OK" && jsonObject(Array((paused?.body ?? "").utf8))["queue"] as? String == name,
                    "\(name): \(String(describing: paused))")
            #expect(try QueueControl.paused(redis: h.redis, prefix: h.prefix).contains(name), "\(name) is paused in Redis")
            #expect(httpRequest(port: port, method: "POST", path: "\(path)/resume", headers: auth)?.status == "HTTP/1.1 200 OK", "\(name)")
            #expect(try !QueueControl.paused(redis: h.redis, prefix: h.prefix).contains(name))
            let requeue = httpRequest(port: port, method: "POST", path: "\(path)/requeue-dead", headers: auth)
            #expect(requeue?.status == "HTTP/1.1 200 OK" && requeue?.body.contains(#""requeued":0"#) == true, "\(name): \(String(describing: requeue))")
        }
        let other = httpRequest(port: port, method: "POST", path: "/api/queues/\(encodeURIComponent("ação2"))/pause", headers: auth)
        #expect(other?.status == "HTTP/1.1 404 Not Found", "a queue not watched is still 404")
    }

    @Test("--http-token-file readable by group or others: exit 64 naming the file and its mode, before anything starts")
    func tokenFileMode() throws {
        let h = try OrchestratorHarness("dmode")
        let file = "\(h.dir)/token"
        FileManager.default.createFile(atPath: file, contents: Data((Self.token + "\n").utf8), attributes: [.posixPermissions: 0o644])
        let (status, output) = try runToEnd(TestEnv.orchestrator, ["--queue", "q", "--handler", "q=cat", "--http-listen", "127.0.0.1:0", "--log-dir", h.logDir],
                                            env: ["REDIS_URL": TestEnv.redisURL, "QUEUE_PREFIX": h.prefix, "HTTP_TOKEN_FILE": file])
        #expect(status == .exited(64), "\(output)")
        #expect(output.contains("--http-token-file (from HTTP_TOKEN_FILE): '\(file)' has mode 0644"), "\(output)")
        #expect(!output.contains(Self.token))
    }

    @Test("401s are logged (rate-limited) with client and path, never the token; actions log the client; events carry the host id")
    func refusalsAndHost() throws {
        let h = try OrchestratorHarness("dref")
        try h.push("q", count: 1)
        let (o, port) = try serve(h, queues: ["q"], hostID: "trust-host-7")
        let healthFile = "/tmp/rpa-worker-trust-host-7-\(PercentEncoding.encode(h.prefix))-q-1.alive"
        defer { o.signal(SIGTERM); _ = o.wait(); unlink(healthFile) }
        #expect(waitUntil { FileManager.default.fileExists(atPath: healthFile) }, "the worker's default health file names host and prefix: \(healthFile)")
        let wrong = "wrong-\(UInt64.random(in: 1...UInt64.max))-token"
        for _ in 0..<20 {
            #expect(httpRequest(port: port, method: "POST", path: "/api/queues/q/pause", headers: ["Authorization: Bearer \(wrong)"])?.status
                    == "HTTP/1.1 401 Unauthorized")
        }
        #expect(waitUntil { h.log.contains("dashboard.refused") }, "\(h.log)")
        let refused = h.log.split(separator: "\n").filter { $0.contains("dashboard.refused") }
        #expect(refused.first?.contains("client=127.0.0.1") == true && refused.first?.contains("path=/api/queues/q/pause") == true
                && refused.first?.contains("status=401") == true, "\(refused)")
        #expect((1...2).contains(refused.count), "20 refusals in a burst give one line (two if the burst crossed 10 s): \(refused)")
        #expect(!h.log.contains(wrong) && !h.log.contains(Self.token), "never a token in the log")
        let paused = httpRequest(port: port, method: "POST", path: "/api/queues/q/pause", headers: ["Authorization: Bearer \(Self.token)"])
        #expect(paused?.status == "HTTP/1.1 200 OK")
        #expect(waitUntil { h.log.contains("dashboard.action action=pause client=127.0.0.1 queue=q") }, "\(h.log)")
        var events: [EventReader.Event] = []
        #expect(waitUntil {
            events = (try? EventReader.range(h.redis, key: QueueKeys.events(prefix: h.prefix), sinceMilliseconds: 0)) ?? []
            return events.contains { $0.type == "pause" } && events.contains { $0.type == "worker_spawned" }
        }, "\(events)")
        for e in events {
            #expect(e.fields.count >= 3 && e.fields[2] == ("host", "trust-host-7") ? true : false, "\(e.fields)")
        }
    }
}
