import Foundation
import OrchestratorCore
import Testing
import TestSupport

/// `RedisLink`'s decisions (log an outage once, back off, retry what may succeed later) over a
/// `FakeRedis`. Real outages (a killed redis-server) are tested in RedisRestartTests.
@Suite("RedisLink decisions over FakeRedis")
struct RedisLinkDecisionTests {
    let redis = FakeRedis()
    let log = LineLog()
    var link: RedisLink { RedisLink(connection: redis, logger: log.logger) }

    @Test("an outage is logged once (redis.down) however many calls fail, and its end once (redis.up)")
    func outageLoggedOnce() {
        let link = self.link
        redis.failure = .connection(code: 111, message: "Connection refused")
        for _ in 0..<3 {
            #expect(throws: RedisError.self) { try link.perform { c throws(RedisError) in try c.send(["PING"]) } }
            link.waitForNextAttempt()
        }
        #expect(link.isDown)
        redis.failure = nil
        link.waitForNextAttempt()
        #expect((try? link.perform { c throws(RedisError) in try c.send(["PING"]) }) == .status("OK"))
        #expect(log.lines == [LogEvents.redisDown, LogEvents.redisUp])
        #expect(!link.isDown && link.outagesEnded == 1)
    }

    @Test("LOADING after a restart: a backoff on the same connection, no outage logged")
    func loadingBacksOff() {
        let link = self.link
        redis.failure = .server("LOADING Redis is loading the dataset in memory")
        #expect(throws: RedisError.self) { try link.perform { c throws(RedisError) in try c.send(["LLEN", "p:a"]) } }
        #expect(link.nextAttemptAt != nil && redis.isConnected)
        #expect(log.lines.isEmpty && !link.isDown)
        redis.failure = nil
        link.waitForNextAttempt()
        #expect((try? link.perform { c throws(RedisError) in try c.send(["LLEN", "p:a"]) }) == .integer(0))
        #expect(log.lines.isEmpty)
    }

    @Test("a WRONGTYPE reply is returned as a failure at once, not retried")
    func wrongTypeNotRetried() {
        let link = self.link
        redis.data["p:a"] = .string("x")
        let result = link.performRetrying { c throws(RedisError) in try c.send(["LLEN", "p:a"]) }
        guard case .failure(.server(let message))? = result else { Issue.record("expected a server error, got \(String(describing: result))"); return }
        #expect(message.hasPrefix("WRONGTYPE"))
        #expect(redis.sent("LLEN").count == 1)
    }
}
