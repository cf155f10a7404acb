import Foundation
import OrchestratorCore
import Testing
import TestSupport

/// Keys of the README's "Redis keys" table set to the wrong type under a running orchestrator,
/// with jobs flowing through its workers: no job is lost, a log line names the key, and the jobs
/// all get their results (once a job key is fixed).
@Suite("orchestrator keys of the wrong type", .requiresRedis)
struct WrongTypeOrchestratorTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let key: @Sendable (String) -> String
        let event: String
        /// A job key: fixed (deleted) once named, so the held jobs can finish.
        var fix = false
        var args: [String] = []
        /// Set while the orchestrator runs (else before it starts).
        var afterStart = false
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "results list (under the orchestrator)", key: { QueueKeys(prefix: $0, queue: "q").results }, event: LogEvents.queueError, fix: true),
        Case(name: "events stream", key: { QueueKeys.events(prefix: $0) }, event: LogEvents.keyError),
        Case(name: "stats hash", key: { QueueKeys(prefix: $0, queue: "q").stats }, event: LogEvents.keyError),
        Case(name: "paused set", key: { QueueKeys.paused(prefix: $0) }, event: LogEvents.keyError),
        Case(name: "rates hash", key: { QueueKeys.rates(prefix: $0) }, event: LogEvents.keyError, args: ["--scaling", "adaptive"]),
        Case(name: "fleet members hash (renewal)", key: { FleetMembership.membersKey(prefix: $0) }, event: LogEvents.keyError, afterStart: true),
        Case(name: "fleet members hash (join)", key: { FleetMembership.membersKey(prefix: $0) }, event: LogEvents.keyError,
             args: ["--host-id", "wt-host"]),
    ]

    @Test("a key of the wrong type loses no job and is named in the log", arguments: cases)
    func wrongType(_ c: Case) throws {
        let h = try OrchestratorHarness("wto")
        let key = c.key(h.prefix)
        if !c.afterStart { _ = try h.redis.send(["SET", RedisArg(key), "not what you expect"]) }
        let jobs = 30
        try h.push("q", count: jobs)
        let o = try h.start(["--queue", "q", "--handler", "q=sleep 0.05; cat", "--jobs-per-worker", "10", "--max-per-queue", "3"] + c.args)
        if c.afterStart {
            #expect(waitUntil { h.log.contains(LogEvents.orchestratorReady) })
            _ = try h.redis.send(["SET", RedisArg(key), "not what you expect"])
        }
        let named = { () -> Bool in
            let logs = [h.log] + ((try? FileManager.default.contentsOfDirectory(atPath: h.logDir)) ?? []).filter { $0.hasPrefix("worker-") }
                .map { (try? String(contentsOfFile: "\(h.logDir)/\($0)", encoding: .utf8)) ?? "" }
            return logs.contains { $0.split(separator: "\n").contains { $0.contains(c.event) && $0.contains("key=\(key)") } }
        }
        #expect(waitUntil(timeout: .seconds(30), named), "no \(c.event) naming \(key): \(h.log)")
        if c.fix { _ = try h.redis.send(["DEL", RedisArg(key)]) }
        #expect(waitUntil(timeout: .seconds(60)) { (try? h.results("q").count) == jobs }, "\(c.name): \(h.log)")
        o.signal(SIGTERM)
        #expect(o.wait(timeout: .seconds(30)) == .exited(0), "\(h.log)")
        let payloads = Set(try h.results("q").compactMap { $0["payload"] as? String })
        #expect(payloads.count == jobs, "every job has exactly its result")
    }

    @Test("status with the instance, alerts, paused and a heartbeat key of the wrong type: exit 0, each named, the live worker still listed")
    func statusNotBlinded() throws {
        let h = try OrchestratorHarness("wtst")
        let env = ["REDIS_URL": TestEnv.redisURL, "QUEUE_PREFIX": h.prefix]
        let worker = try Launched(TestEnv.worker, ["--queue", "solo", "--handler", "cat"], env: env, outputPath: "\(h.dir)/worker.log")
        #expect(waitUntil { (try? h.redis.scan(match: QueueKeys.heartbeatPattern(prefix: h.prefix)).count) == 1 }, "\(worker.output)")
        let stray = QueueKeys.heartbeat(prefix: h.prefix, "ghost-1-h-1")
        let keys = [QueueKeys.instance(prefix: h.prefix), QueueKeys.alerts(prefix: h.prefix), QueueKeys.paused(prefix: h.prefix), stray]
        for key in keys { _ = try h.redis.send(["SET", RedisArg(key), "not what you expect"]) }
        let (st, out) = try runToEnd(TestEnv.orchestrator, ["status"], env: env)
        #expect(st == .exited(0) && out.contains("solo"), "\(out)")
        for key in keys { #expect(out.contains("UNREADABLE (skipped): key \(key): WRONGTYPE"), "\(key): \(out)") }
        let (js, json) = try runToEnd(TestEnv.orchestrator, ["status", "--json"], env: env)
        let skipped = jsonObject(Array(json.utf8))["unreadable_keys"] as? [[String: Any]] ?? []
        #expect(js == .exited(0) && Set(skipped.compactMap { $0["key"] as? String }) == Set(keys), "\(json)")
        worker.signal(SIGTERM)
        #expect(worker.wait() == .exited(0))
    }
}
