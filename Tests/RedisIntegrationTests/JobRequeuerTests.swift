import Foundation
@testable import OrchestratorCore
import Testing
import TestSupport

/// The requeue component against a real redis-server: failures are kept and retried.
@Suite("JobRequeuer", .requiresRedis, .serialized)
struct JobRequeuerTests {
    let id = "q-1-h1-4242"

    @Test("a requeue that fails while Redis is down is kept and done once Redis is back")
    func retriedAfterOutage() throws {
        let redis = try PrivateRedis()
        defer { redis.stop() }
        let log = LineLog()
        let c = RedisConnection(endpoint: redis.endpoint)
        try c.connect()
        let keys = QueueKeys(prefix: "p:", queue: "q")
        _ = try c.send(["RPUSH", RedisArg(keys.processing(id)), "job-1"])
        let link = RedisLink(connection: RedisConnection(endpoint: redis.endpoint), logger: log.logger)
        var requeuer = JobRequeuer(prefix: "p:", link: link, logger: log.logger)
        redis.stop()
        requeuer.requeue(queue: "q", id: id)
        #expect(requeuer.pending.map(\.id) == [id])
        try redis.start()
        let done = waitUntil {
            requeuer.retryPending()
            return requeuer.pending.isEmpty
        }
        #expect(done, "\(log.lines)")
        let back = RedisConnection(endpoint: redis.endpoint)
        try back.connect()
        #expect(try back.llen("p:q") == 1 && back.llen(keys.processing(id)) == 0)
        #expect(log.lines.contains(LogEvents.jobRecovered), "\(log.lines)")
    }

    @Test("a requeue refused by a queue key of the wrong type is logged once, retried, and done once the key is fixed")
    func refusedLoggedOnce() throws {
        let prefix = TestEnv.uniquePrefix("requeue")
        let log = LineLog()
        let c = try TestEnv.connect()
        let keys = QueueKeys(prefix: prefix, queue: "q")
        _ = try c.send(["RPUSH", RedisArg(keys.processing(id)), "job-1"])
        _ = try c.send(["SET", RedisArg(keys.pending), "not a list"])
        var requeuer = JobRequeuer(prefix: prefix, link: RedisLink(connection: try TestEnv.connect(), logger: log.logger), logger: log.logger)
        requeuer.requeue(queue: "q", id: id)
        requeuer.retryPending()
        requeuer.retryPending()
        #expect(log.lines.filter { $0 == LogEvents.queueError }.count == 1, "\(log.lines)")
        #expect(requeuer.pending.map(\.id) == [id])
        #expect(try c.llen(keys.processing(id)) == 1, "the job stays in its processing list")
        _ = try c.send(["DEL", RedisArg(keys.pending)])
        requeuer.retryPending()
        #expect(requeuer.pending.isEmpty)
        #expect(try c.llen(keys.pending) == 1 && c.llen(keys.processing(id)) == 0)
    }
}
