import Foundation
import OrchestratorCore
import Testing
import TestSupport

/// Every key of the README's "Redis keys" table a worker writes or reads, set to the wrong type
/// while jobs flow through real worker processes: no job is lost, the log names the key, and once
/// the key is fixed every job ends where it should.
@Suite("keys of the wrong type under load", .requiresRedis)
struct WrongTypeKeyTests {
    /// One key under test. `fixed`: every job has reached its end (results, dead or retry).
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let handler: String
        let args: [String]
        /// The key, from the harness's keys and the worker id prefix (`q-<slot>-h-`).
        let key: @Sendable (QueueKeys, String) -> String
        /// The log event naming it.
        let event: String
        /// Where each job ends once the key is fixed.
        let end: @Sendable (WorkerHarness) throws -> Int
        var testDescription: String { name }
    }

    static let jobs = 12

    static let cases: [Case] = [
        Case(name: "results list", handler: "cat", args: [], key: { k, _ in k.results }, event: LogEvents.queueError,
             end: { try $0.results().count }),
        Case(name: "dead list", handler: "exit 1", args: ["--max-attempts", "1"], key: { k, _ in k.dead }, event: LogEvents.queueError,
             end: { try $0.dead().count }),
        Case(name: "retry sorted set", handler: "exit 1", args: ["--max-attempts", "3", "--retry-delay", "60"], key: { k, _ in k.retry },
             event: LogEvents.queueError, end: { try $0.redis.send(["ZCARD", RedisArg($0.keys.retry)]).int ?? 0 }),
        Case(name: "stats hash", handler: "cat", args: [], key: { k, _ in k.stats }, event: LogEvents.keyError,
             end: { try $0.results().count }),
        Case(name: "paused set", handler: "cat", args: [], key: { k, _ in QueueKeys.paused(prefix: k.prefix) }, event: LogEvents.keyError,
             end: { try $0.results().count }),
        Case(name: "worker heartbeat hash", handler: "sleep 0.3; cat", args: [], key: { k, id in QueueKeys.heartbeat(prefix: k.prefix, id) },
             event: LogEvents.keyError, end: { try $0.results().count }),
    ]

    @Test("a key of the wrong type loses no job, the log names it, and the jobs end where they should once it is fixed", arguments: cases)
    func wrongType(_ c: Case) throws {
        let h = try WorkerHarness("wt")
        let env = ["RPA_HOST_ID": "h"]
        var workers = [try h.start(handler: c.handler, args: c.args, env: env, slot: 1)]
        workers.append(try h.start(handler: c.handler, args: c.args, env: env, slot: 2))
        let keys = [c.key(h.keys, QueueKeys.workerID(queue: h.queue, slot: 1, host: "h", pid: workers[0].pid)),
                    c.key(h.keys, QueueKeys.workerID(queue: h.queue, slot: 2, host: "h", pid: workers[1].pid))]
        #expect(waitUntil { workers.allSatisfy { $0.output.contains(LogEvents.workerReady) } })
        for key in Set(keys) { _ = try h.redis.send(["SET", RedisArg(key), "not what you expect"]) }
        let payloads = (1...Self.jobs).map { "job-\($0)" }
        try h.redis.lpush(h.keys.pending, strings: payloads)
        let named = {
            zip(workers, keys).contains { w, key in w.output.split(separator: "\n").contains { $0.contains(c.event) && $0.contains("key=\(key)") } }
        }
        #expect(waitUntil(named), "no \(c.event) line naming \(keys): \(workers.map(\.output))")
        // Nothing is lost meanwhile: every job is in the queue, held, or at its end.
        #expect(try located(h, payloads) == Self.jobs, "\(workers.map(\.output))")
        for key in Set(keys) { _ = try h.redis.send(["DEL", RedisArg(key)]) }
        #expect(waitUntil(timeout: .seconds(60)) { (try? c.end(h)) == Self.jobs }, "\(c.name): \(workers.map(\.output))")
        for w in workers { w.signal(SIGTERM) }
        for w in workers { #expect(w.wait() == .exited(0), "\(w.output)") }
        #expect(try located(h, payloads) == Self.jobs)
    }

    /// How many of `payloads` are somewhere: the queue, a processing list, results, dead or retry.
    private func located(_ h: WorkerHarness, _ payloads: [String]) throws -> Int {
        var seen: [String] = []
        let text = { (b: [UInt8]) in String(decoding: ClaimedJob(element: b).payload, as: UTF8.self) }
        seen += try h.redis.lrange(h.keys.pending).map(text)
        for key in try h.processing() { seen += try h.redis.lrange(key).map(text) }
        for (key, field) in [(h.keys.results, "payload"), (h.keys.dead, "payload")] where try isList(h, key) {
            seen += try h.redis.lrange(key).map { jsonObject($0)[field] as? String ?? "" }
        }
        if try h.redis.send(["TYPE", RedisArg(h.keys.retry)]).text == "zset" {
            let members = try h.redis.send(["ZRANGE", RedisArg(h.keys.retry), "0", "-1"]).array?.compactMap(\.bytes) ?? []
            seen += members.map { m in text(Array(m[(m.firstIndex(of: 10).map { $0 + 1 } ?? 0)...])) }
        }
        return Set(payloads).intersection(seen).count
    }

    private func isList(_ h: WorkerHarness, _ key: String) throws -> Bool {
        try h.redis.send(["TYPE", RedisArg(key)]).text == "list"
    }
}
