import Foundation
import OrchestratorCore
import Testing
import TestSupport

/// Each queue script with each key it writes set to the wrong type: a job key is refused with
/// nothing written and the key named; a counter key is skipped and reported.
@Suite("queue scripts with a key of the wrong type", .requiresRedis)
struct QueueScriptWrongTypeTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        /// The key set to the wrong type.
        let key: @Sendable (QueueKeys) -> String
        /// Runs the script (the job "j" is held by worker "w", a dead entry and a due retry exist).
        let run: @Sendable (RedisJobQueue) throws(RedisError) -> Void
        var testDescription: String { name }
    }

    static func failing(_ q: RedisJobQueue, attempt: Int, due: Int64) throws(RedisError) {
        let job = ClaimedJob(element: Array("j".utf8))
        _ = try q.fail(job, error: "boom", attempt: attempt, maxAttempts: 3, deadEntry: Array("dead".utf8), record: Array("rec".utf8),
                       retryAtMilliseconds: due, tag: "t")
    }

    static let refusals: [Case] = [
        Case(name: "complete: results", key: \.results) { q throws(RedisError) in
            _ = try q.complete(record: Array("rec".utf8), element: Array("j".utf8), takeNext: true) },
        Case(name: "fail, last attempt: dead", key: \.dead) { q throws(RedisError) in try failing(q, attempt: 3, due: 0) },
        Case(name: "fail, last attempt: results", key: \.results) { q throws(RedisError) in try failing(q, attempt: 3, due: 0) },
        Case(name: "fail, delayed: retry", key: \.retry) { q throws(RedisError) in try failing(q, attempt: 1, due: 5) },
        Case(name: "fail, requeued: queue", key: \.pending) { q throws(RedisError) in try failing(q, attempt: 1, due: 0) },
        Case(name: "pushBack: queue", key: \.pending) { q throws(RedisError) in try q.pushBack() },
        Case(name: "recoverDead: queue", key: \.pending) { q throws(RedisError) in _ = try q.requeue(ownerID: "w") },
        Case(name: "requeueStopped: queue", key: \.pending) { q throws(RedisError) in _ = try q.requeueStopped(ownerID: "w") },
        Case(name: "promote: queue", key: \.pending) { q throws(RedisError) in _ = try q.promoteDueRetries(nowMilliseconds: 10) },
        Case(name: "promote: retry", key: \.retry) { q throws(RedisError) in _ = try q.promoteDueRetries(nowMilliseconds: 10) },
        Case(name: "requeueDead: queue", key: \.pending) { q throws(RedisError) in
            _ = try DeadLetters(redis: q.redis, keys: q.keys).requeueAll() },
    ]

    /// A held job, a dead entry and a due retry; then `key` overwritten with a string.
    private func setUp(_ key: (QueueKeys) -> String) throws -> (RedisJobQueue, RedisConnection) {
        let redis = try TestEnv.connect()
        let keys = QueueKeys(prefix: TestEnv.uniquePrefix("qs"), queue: "q")
        let q = RedisJobQueue(redis: redis, keys: keys, workerID: "w")
        _ = try redis.send(["LPUSH", RedisArg(q.processingKey), "j"])
        _ = try redis.send(["LPUSH", RedisArg(keys.dead), "dead-entry"])
        _ = try redis.send(["ZADD", RedisArg(keys.retry), "1", "t\nretried"])
        _ = try redis.send(["SET", RedisArg(key(keys)), "wrong"])
        return (q, redis)
    }

    /// Every key of the test's prefix with its DUMP.
    private func snapshot(_ redis: RedisConnection, _ keys: QueueKeys) throws -> [String: [UInt8]] {
        var all: [String: [UInt8]] = [:]
        for key in try redis.scan(match: keys.prefix + "*") + redis.scan(match: QueueKeys.namespace(keys.prefix) + "*") {
            all[key] = try redis.send(["DUMP", RedisArg(key)]).bytes ?? []
        }
        return all
    }

    @Test("a job key of the wrong type: refused, naming the key, nothing written", arguments: refusals)
    func refused(_ c: Case) throws {
        let (q, redis) = try setUp(c.key)
        let before = try snapshot(redis, q.keys)
        do {
            try c.run(q)
            Issue.record("\(c.name): not refused")
        } catch {
            #expect(error.wrongTypeKey == c.key(q.keys), "\(error)")
        }
        #expect(try snapshot(redis, q.keys) == before, "nothing written")
    }

    @Test("recovering abandoned lists: one of the wrong type is reported and left, the others are still recovered")
    func recoveryGoesOn() throws {
        let redis = try TestEnv.connect()
        let keys = QueueKeys(prefix: TestEnv.uniquePrefix("qr"), queue: "q")
        let q = RedisJobQueue(redis: redis, keys: keys, workerID: "me")
        _ = try redis.send(["SET", RedisArg(keys.processing("a-dead")), "wrong"])
        _ = try redis.send(["LPUSH", RedisArg(keys.processing("b-dead")), "job"])
        var refused: [String] = []
        #expect(try q.recoverAbandoned { key, _ in refused.append(key) } == 1)
        #expect(refused == [keys.processing("a-dead")])
        #expect(try redis.llen(keys.pending) == 1 && redis.send(["GET", RedisArg(keys.processing("a-dead"))]).text == "wrong")
    }

    @Test("a stats hash of the wrong type: the outcome is written, the counter skipped and reported")
    func statsSkipped() throws {
        let (q, redis) = try setUp(\.stats)
        let done = try q.complete(record: Array("rec".utf8), element: Array("j".utf8))
        #expect(done.held && done.skipped.map(\.key) == [q.keys.stats])
        #expect(try redis.lrange(q.keys.results) == [Array("rec".utf8)] && redis.llen(q.processingKey) == 0)
        _ = try redis.send(["LPUSH", RedisArg(q.processingKey), "j"])
        let failed = try q.fail(ClaimedJob(element: Array("j".utf8)), error: "e", attempt: 1, maxAttempts: 3, deadEntry: [], record: [],
                                retryAtMilliseconds: 0, tag: "t")
        #expect(failed.outcome == .requeued && failed.skipped.map(\.key) == [q.keys.stats])
        #expect(try redis.llen(q.keys.pending) == 1 && redis.llen(q.processingKey) == 0)
    }
}
