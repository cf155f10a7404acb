import Foundation
import OrchestratorCore
import Testing
import TestSupport

/// A redis-server of the test's own with extra arguments (e.g. `--rename-command CONFIG ""`),
/// so CONFIG SET by an orchestrator never touches the shared test server. Stopped by its pid.
final class FeedRedis: @unchecked Sendable {
    let port: Int
    let dir = TestEnv.scratch("feed-redis")
    let extra: [String]
    private var process: Launched?

    init(_ extra: [String] = []) throws {
        self.extra = extra
        var chosen = 0
        for _ in 0..<50 {
            let candidate = Int.random(in: 20000...32000)
            let probe = RedisConnection(endpoint: RedisEndpoint(host: "127.0.0.1", port: candidate), connectTimeout: .milliseconds(200))
            if (try? probe.connect()) == nil { chosen = candidate; break }
        }
        port = chosen
        try start()
    }

    var url: String { "redis://127.0.0.1:\(port)/0" }
    var endpoint: RedisEndpoint { RedisEndpoint(host: "127.0.0.1", port: port) }

    func start() throws {
        process = try Launched("/usr/bin/redis-server", ["--port", "\(port)", "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no"] + extra,
                               outputPath: "\(dir)/redis.log")
        let up = waitUntil(timeout: .seconds(10)) { (try? connect().send(["PING"])) == .status("PONG") }
        if !up { throw RedisError.connection(code: -1, message: "private redis-server did not start on \(port)") }
    }

    func connect() throws -> RedisConnection {
        let c = RedisConnection(endpoint: endpoint)
        try c.connect()
        return c
    }

    func stop() {
        process?.signal(SIGTERM)
        process?.wait(timeout: .seconds(10))
    }

    /// `calls` of one command in INFO commandstats (0 when never called).
    func calls(_ command: String) throws -> Int {
        let text = try connect().send(["INFO", "commandstats"]).text ?? ""
        guard let line = text.split(separator: "\r\n").first(where: { $0.hasPrefix("cmdstat_\(command):") }),
              let field = line.split(separator: ",").first, let n = Int(field.split(separator: "=").last ?? "") else { return 0 }
        return n
    }

    deinit { process?.signal(SIGKILL) }
}

/// One orchestrator on a `FeedRedis`, its own log directory.
struct FeedHost {
    let launched: Launched
    let dir: String
    var log: String { (try? String(contentsOfFile: "\(dir)/logs/orchestrator.log", encoding: .utf8)) ?? "" }
    func lines(_ words: String...) -> Int { log.split(separator: "\n").filter { line in words.allSatisfy { line.contains($0) } }.count }

    static func start(_ redis: FeedRedis, id: String, queues: Int = 20, extra: [String] = []) throws -> FeedHost {
        let dir = TestEnv.scratch("feed-\(id)")
        var args = ["--host-id", id, "--log-dir", "\(dir)/logs", "--drain-timeout", "1"] + extra
        for i in 1...queues { args += ["--queue", "q\(i)", "--handler", "q\(i)=sleep 30"] }
        return FeedHost(launched: try Launched(TestEnv.orchestrator, args, env: ["REDIS_URL": redis.url], outputPath: "\(dir)/out.txt"), dir: dir)
    }

    /// Live worker processes of this orchestrator for `queue`.
    func workers(_ queue: String) -> Int {
        ProcessTree.snapshot().filter { $0.ppid == launched.pid && !$0.isZombie }.filter { e in
            let args = (FileManager.default.contents(atPath: "/proc/\(e.pid)/cmdline")).map { String(decoding: $0, as: UTF8.self).split(separator: "\0").map(String.init) } ?? []
            return args.firstIndex(of: "--queue").map { $0 + 1 < args.count && args[$0 + 1] == queue } ?? false
        }.count
    }

    func stop() {
        launched.signal(SIGTERM)
        launched.wait(timeout: .seconds(20))
    }
}

/// A burst of 322 jobs in q1 and 3 in q2 (the README's example: 7 + 1 workers).
func burst(_ redis: FeedRedis, tag: String) throws {
    let c = try redis.connect()
    try c.lpush("fila:q1", strings: (1...322).map { "\(tag)-\($0)" })
    try c.lpush("fila:q2", strings: (1...3).map { "\(tag)-b\($0)" })
}

@Suite("the fleet's length feed (keyspace notifications, fallback, take-over, Redis restart)", .requiresRedis, .serialized)
struct LengthFeedTests {
    @Test("with notifications: an idle orchestrator with 20 queues reads no length each poll (few LLEN in 3 s), and a burst still starts 7 + 1 workers")
    func idleWithNotifications() throws {
        let redis = try FeedRedis()
        let h = try FeedHost.start(redis, id: "a")
        defer { h.stop() }
        #expect(waitUntil { h.lines("lengths.feed", "state=live") == 1 }, "log: \(h.log)")
        #expect(h.lines("lengths.notifications", "enabled=Klgs", "was=\"\"") == 1, "log: \(h.log)")
        #expect(try redis.connect().send(["CONFIG", "GET", "notify-keyspace-events"]).array?.last?.text == "glsK")
        // Before: 20 LLEN a poll and 20 every 100 ms (≈ 660 in 3 s); now the leader's snapshot
        // (20 every 3 s) and the dead-letter count (20 every 5 s).
        let before = try redis.calls("llen")
        Thread.sleep(forTimeInterval: 3)
        let llen = try redis.calls("llen") - before
        #expect(llen <= 60, "LLEN calls in 3 s: \(llen)")
        try burst(redis, tag: "n")
        #expect(waitUntil { h.workers("q1") == 7 && h.workers("q2") == 1 }, "log: \(h.log)")
    }

    @Test("CONFIG refused (renamed away): the leader peeks alone, says why once, and a burst still starts 7 + 1 workers")
    func configRefused() throws {
        let redis = try FeedRedis(["--rename-command", "CONFIG", ""])
        let h = try FeedHost.start(redis, id: "a")
        defer { h.stop() }
        #expect(waitUntil { h.lines("lengths.mode", "mode=peek", "CONFIG GET refused") == 1 && h.lines("lengths.feed", "state=live") == 1 }, "log: \(h.log)")
        try burst(redis, tag: "p")
        #expect(waitUntil { h.workers("q1") == 7 && h.workers("q2") == 1 }, "log: \(h.log)")
        #expect(h.lines("lengths.mode") == 1, "log: \(h.log)")
    }

    @Test("the leader SIGKILLed in a 2-host fleet: the other host takes the feed over and answers a burst")
    func leaderKilled() throws {
        let redis = try FeedRedis()
        let a = try FeedHost.start(redis, id: "a", extra: ["--lease-ttl", "3s"])
        #expect(waitUntil { a.lines("lengths.mode", "mode=notifications") == 1 }, "log: \(a.log)")
        let b = try FeedHost.start(redis, id: "b", extra: ["--lease-ttl", "3s"])
        defer { b.stop() }
        #expect(waitUntil { b.lines("lengths.feed", "state=live") == 1 }, "log b: \(b.log)")
        #expect(b.lines("lengths.mode") == 0, "b does not lead while a lives; log b: \(b.log)")
        a.launched.signal(SIGKILL)
        a.launched.wait(timeout: .seconds(10))
        #expect(waitUntil(timeout: .seconds(30)) { b.lines("lengths.mode", "mode=notifications") == 1 }, "log b: \(b.log)")
        // Live now (its own publishing): every `lost` it logged followed by a `live`.
        #expect(waitUntil { b.lines("lengths.feed", "state=live") == b.lines("lengths.feed", "state=lost") + 1 }, "log b: \(b.log)")
        try burst(redis, tag: "k")
        #expect(waitUntil { b.workers("q1") == 7 && b.workers("q2") == 1 }, "log b: \(b.log)")
    }

    @Test("Redis restarted mid-run: the feed is lost, then back (notifications enabled again on the new server), and a burst after it scales")
    func redisRestart() throws {
        let redis = try FeedRedis()
        let h = try FeedHost.start(redis, id: "a")
        defer { h.stop() }
        #expect(waitUntil { h.lines("lengths.feed", "state=live") == 1 }, "log: \(h.log)")
        redis.stop()
        #expect(waitUntil { h.lines("lengths.feed", "state=lost") == 1 }, "log: \(h.log)")
        try redis.start()
        #expect(waitUntil(timeout: .seconds(30)) { h.lines("lengths.feed", "state=live") == 2 && h.lines("lengths.notifications", "enabled=Klgs") == 2 }, "log: \(h.log)")
        #expect(try redis.connect().send(["CONFIG", "GET", "notify-keyspace-events"]).array?.last?.text == "glsK")
        try burst(redis, tag: "r")
        #expect(waitUntil { h.workers("q1") == 7 && h.workers("q2") == 1 }, "log: \(h.log)")
    }
}
