import Foundation
import OrchestratorCore
import Testing
import TestSupport

/// `QueueControl.perform` (the dashboard's requeue/delete/retry-now) and `JobLocator`'s bounds,
/// against a real redis-server.
@Suite("operator actions on dead letters and retries; the job locator's bounds", .requiresRedis)
struct OperatorActionTests {
    let redis: RedisConnection
    let prefix = TestEnv.uniquePrefix("opact")
    var keys: QueueKeys { QueueKeys(prefix: prefix, queue: "q") }

    init() throws { redis = try TestEnv.connect() }

    func dead(_ payloads: [String]) throws {
        try redis.lpush(keys.dead, payloads.map { DeadLetter(queue: "q", payload: Array($0.utf8), error: "e", attempts: 3, worker: "w", failedAt: "t").encoded })
    }

    @Test("a queue key of the wrong type: requeue and retry-now refuse with the key named and change nothing, and write no event")
    func wrongType() throws {
        try dead(["a", "b"])
        _ = try redis.send(["ZADD", RedisArg(keys.retry), "1", "t\nr"])
        _ = try redis.send(["HSET", RedisArg(keys.pending), "x", "1"])
        for action in [QueueControl.JobAction.requeue, .retryNow] {
            for id in [SHA1.hex(Array("a".utf8)), nil] {
                do {
                    _ = try QueueControl.perform(action, queue: "q", id: id, redis: redis, prefix: prefix, client: "c")
                    Issue.record("\(action) \(id ?? "*") accepted a hash as the queue")
                } catch {
                    #expect("\(error)".contains("WRONGTYPE \(keys.pending) is a hash"), "\(error)")
                }
            }
        }
        #expect(try redis.llen(keys.dead) == 2 && redis.send(["ZCARD", RedisArg(keys.retry)]).int == 1, "nothing moved")
        #expect(try redis.send(["XLEN", RedisArg(QueueKeys.events(prefix: prefix))]).int == 0, "no event for what did not happen")
    }

    @Test("requeue and delete by id take every entry with that id (identical plain payloads); an id not dead is nil; retry-now promotes past 1,000")
    func byID() throws {
        try dead(["same", "same", "other"])
        let same = SHA1.hex(Array("same".utf8))
        #expect(try QueueControl.perform(.requeue, queue: "q", id: same, redis: redis, prefix: prefix) == 2)
        #expect(try redis.lrange(keys.pending).map { String(decoding: $0, as: UTF8.self) } == ["same", "same"])
        #expect(try QueueControl.perform(.requeue, queue: "q", id: same, redis: redis, prefix: prefix) == nil)
        #expect(try QueueControl.perform(.delete, queue: "q", id: SHA1.hex(Array("other".utf8)), redis: redis, prefix: prefix) == 1)
        #expect(try redis.llen(keys.dead) == 0)
        let members = (1...2500).flatMap { ["\($0)", "t\nretry-\($0)"] }
        _ = try redis.send(["ZADD", RedisArg(keys.retry)] + members.map { RedisArg($0) })
        #expect(try QueueControl.perform(.retryNow, queue: "q", id: nil, redis: redis, prefix: prefix) == 2500)
        #expect(try redis.llen(keys.pending) == 2502 && redis.send(["ZCARD", RedisArg(keys.retry)]).int == 0)
    }

    @Test("the locator reads at most `limit` entries of a list: a job deeper than that is not found; processing lists of another queue are not looked at")
    func bounded() throws {
        try redis.lpush(keys.pending, strings: (1...100).map { "job-\($0)" })  // job-100 is at the head
        let locator = JobLocator(redis: redis, prefix: prefix, limit: 50)
        #expect(try locator.locate(id: SHA1.hex(Array("job-90".utf8)), queues: ["q"])?.state == .pending)
        #expect(try locator.locate(id: SHA1.hex(Array("job-10".utf8)), queues: ["q"]) == nil, "90 entries from the head")
        #expect(try JobLocator(redis: redis, prefix: prefix).locate(id: SHA1.hex(Array("job-10".utf8)), queues: ["q"])?.state == .pending)
        try redis.lpush(QueueKeys(prefix: prefix, queue: "q2").processing("w"), strings: ["held"])
        #expect(try locator.locate(id: SHA1.hex(Array("held".utf8)), queues: ["q"]) == nil)
        #expect(try locator.locate(id: SHA1.hex(Array("held".utf8)), queues: ["q", "q2"]) == JobLocation(id: SHA1.hex(Array("held".utf8)), queue: "q2",
                                                                                                       state: .inFlight, worker: "w"))
    }
}
