import Foundation
import Logging
import OrchestratorCore
import Testing
import TestSupport

@Suite("RedisConnection over hiredis", .requiresRedis)
struct RedisConnectionTests {
    @Test("binary-safe SET/GET and typed replies")
    func replies() throws {
        let c = try TestEnv.connect()
        let key = TestEnv.uniquePrefix("conn") + "k"
        let value: [UInt8] = [0, 1, 0xFF, 0x0A, 0]
        #expect(try c.send(["SET", RedisArg(key), RedisArg(bytes: value)]) == .status("OK"))
        #expect(try c.send(["GET", RedisArg(key)]) == .string(value))
        #expect(try c.send(["INCR", RedisArg(key + "n")]) == .integer(1))
        #expect(try c.send(["GET", RedisArg(key + "missing")]) == .null)
        let replies = try c.pipeline([["PING"], ["LPUSH", RedisArg(key), "x"], ["ECHO", "hi"]])
        #expect(replies[0] == .status("PONG"))
        if case .error(let message) = replies[1] { #expect(message.hasPrefix("WRONGTYPE")) } else { Issue.record("expected WRONGTYPE, got \(replies[1])") }
        #expect(replies[2] == .string(Array("hi".utf8)))
    }

    @Test("a server error keeps the connection usable; a dead context is reported as a connection error")
    func errorKinds() throws {
        let c = try TestEnv.connect()
        #expect(throws: RedisError.self) { try c.send(["NOSUCHCOMMAND"]) }
        do { _ = try c.send(["NOSUCHCOMMAND"]) } catch { #expect(!error.isConnectionLoss) }
        #expect(try c.send(["PING"]) == .status("PONG"))
        let id = try #require(try c.send(["CLIENT", "ID"]).int)
        let killer = try TestEnv.connect()
        _ = try killer.send(["CLIENT", "KILL", "ID", RedisArg(id)])
        do {
            _ = try c.send(["PING"])
            Issue.record("PING on a killed connection should fail")
        } catch {
            #expect(error.isConnectionLoss)
        }
        #expect(!c.isConnected)
        try c.connect()
        #expect(try c.send(["PING"]) == .status("PONG"))
    }

    @Test("scripts are reloaded after SCRIPT FLUSH (as after a server restart)")
    func scriptReload() throws {
        let c = try TestEnv.connect()
        #expect(try c.eval("return 41 + 1", keys: [], args: []) == .integer(42))
        _ = try c.send(["SCRIPT", "FLUSH"])
        #expect(try c.eval("return 41 + 1", keys: [], args: []) == .integer(42))
    }

    @Test("BUSY (a long script on the server) is retried on the same connection, not treated as a lost one")
    func busyIsTransient() throws {
        let redis = try PrivateRedis()
        defer { redis.stop() }
        let endpoint = RedisEndpoint(host: "127.0.0.1", port: redis.port)
        let admin = RedisConnection(endpoint: endpoint)
        try admin.connect()
        _ = try admin.send(["CONFIG", "SET", "busy-reply-threshold", "100"])
        // Another client blocks the server in a script until SCRIPT KILL.
        let blocker = Thread {
            let c = RedisConnection(endpoint: endpoint, commandTimeout: .seconds(30))
            if (try? c.connect()) != nil { _ = try? c.send(["EVAL", "while true do end", "0"]) }
        }
        blocker.start()
        usleep(300_000)
        let link = RedisLink(connection: RedisConnection(endpoint: endpoint), logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        var seen: RedisError?
        do { _ = try link.perform { c throws(RedisError) in try c.send(["PING"]) } } catch { seen = error }
        let error = try #require(seen, "the server should answer BUSY while the script runs")
        #expect(error.isTransient && !error.isConnectionLoss, "\(error)")
        #expect(link.connection.isConnected, "a BUSY reply must not close a healthy connection")
        _ = try admin.send(["SCRIPT", "KILL"])
        let after = link.performRetrying { c throws(RedisError) in try c.send(["PING"]) }
        #expect(after.map { (try? $0.get()) == .status("PONG") } == true, "retried with backoff until the script was killed")
    }

    @Test("while Redis is down the link tries to reconnect at least every 500 ms, and counts the outage once it is back")
    func reconnectsEvery500ms() throws {
        let redis = try PrivateRedis()
        let endpoint = RedisEndpoint(host: "127.0.0.1", port: redis.port)
        let link = RedisLink(connection: RedisConnection(endpoint: endpoint), logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        redis.stop()
        // Each real attempt that fails sets when the next one is due: the gaps must stay within 500 ms.
        let clock = ContinuousClock()
        var gaps: [Duration] = []
        var last: ContinuousClock.Instant?
        while gaps.count < 6 {
            let failed = (try? link.perform { c throws(RedisError) in try c.send(["PING"]) }) == nil
            #expect(failed)
            if let next = link.nextAttemptAt, next != last {
                gaps.append(next - clock.now)
                last = next
            }
            link.waitForNextAttempt()
        }
        #expect(gaps.allSatisfy { $0 <= .milliseconds(500) }, "gaps before the next attempt: \(gaps)")
        try redis.start()
        let back = link.performRetrying { c throws(RedisError) in try c.send(["PING"]) }
        #expect(back.map { (try? $0.get()) == .status("PONG") } == true)
        #expect(link.outagesEnded == 1)
        redis.stop()
    }
}

