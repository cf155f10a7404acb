import Foundation
import OrchestratorCore
import Testing
import TestSupport

/// The fencing check of a worker's takes (issue 21 §0.1): a take is refused, with nothing
/// written, when the worker's slot lease names another holder, is missing, or is about to
/// expire unrenewed; a worker without a lease takes as before.
@Suite("slot lease fencing in the take scripts", .requiresRedis)
struct LeaseFenceTests {
    static let mine = "h1\ninst-a\nq", theirs = "h2\ninst-b\nq"

    struct Fixture {
        let redis: RedisConnection
        let keys: QueueKeys
        let leaseKey: String
        let queue: RedisJobQueue

        init(_ name: String) throws {
            redis = try TestEnv.connect()
            let prefix = TestEnv.uniquePrefix(name)
            keys = QueueKeys(prefix: prefix, queue: "q")
            leaseKey = QueueKeys.namespace(prefix) + "fleet:slot:3"
            queue = RedisJobQueue(redis: redis, keys: keys, workerID: "w",
                                  fence: LeaseFence(key: leaseKey, holder: LeaseFenceTests.mine, marginMilliseconds: 1000))
            _ = try redis.send(["SET", RedisArg(epochKey), "1"])  // a live fleet (its epoch key written at join)
        }

        var epochKey: String { QueueKeys.namespace(keys.prefix) + "fleet:epoch" }
        var reclaimKey: String { QueueKeys.namespace(keys.prefix) + "fleet:reclaim" }

        /// Sets the lease (nil: deletes it) with `ttl` ms to live.
        func lease(_ value: String?, ttl: Int = 60_000) throws {
            if let value { _ = try redis.send(["SET", RedisArg(leaseKey), RedisArg(value), "PX", RedisArg(String(ttl))]) }
            else { _ = try redis.send(["DEL", RedisArg(leaseKey)]) }
        }

        func strings(_ key: String) throws -> [String] { try redis.lrange(key).map { String(decoding: $0, as: UTF8.self) } }
    }

    enum Holder: String, CaseIterable, Sendable { case another, missing, expiring, wrongType }

    static func set(_ holder: Holder, _ f: Fixture) throws {
        switch holder {
        case .another: try f.lease(theirs)
        case .missing: try f.lease(nil)
        case .expiring: try f.lease(mine, ttl: 400)  // under the 1 s margin
        case .wrongType:
            try f.lease(nil)
            _ = try f.redis.send(["HSET", RedisArg(f.leaseKey), "a", "b"])
        }
    }

    @Test("a take while the lease is ours moves the job; its PTTL less the margin bounds the next wait")
    func takeWhileOurs() throws {
        let f = try Fixture("fence-ok")
        try f.lease(Self.mine)
        try f.redis.lpush(f.keys.pending, strings: ["j1", "j2"])
        let take = try f.queue.take()
        #expect(take.job == Array("j1".utf8) && take.lostTo == nil)
        #expect((take.leaseMilliseconds ?? 0) > 50_000 && (take.leaseMilliseconds ?? 0) <= 59_000)
        #expect(try f.strings(f.queue.processingKey) == ["j1"])
        #expect(try f.strings(f.keys.pending) == ["j2"])
    }

    @Test("a take is refused with nothing written when the lease is not ours", arguments: Holder.allCases)
    func takeRefused(_ holder: Holder) throws {
        let f = try Fixture("fence-take")
        try f.redis.lpush(f.keys.pending, strings: ["j1", "j2"])
        try Self.set(holder, f)
        let take = try f.queue.take()
        #expect(take.job == nil)
        #expect(take.lostTo == (holder == .another ? Self.theirs : holder == .expiring ? Self.mine : ""))
        #expect(try f.strings(f.keys.pending) == ["j2", "j1"])
        #expect(try f.redis.send(["EXISTS", RedisArg(f.queue.processingKey)]).int == 0)
    }

    @Test("complete writes the result but takes no next job when the lease is not ours", arguments: Holder.allCases)
    func completeRefusesNext(_ holder: Holder) throws {
        let f = try Fixture("fence-complete")
        try f.redis.lpush(f.keys.pending, strings: ["next"])
        try f.redis.lpush(f.queue.processingKey, strings: ["done"])
        try Self.set(holder, f)
        let c = try f.queue.complete(record: Array("rec".utf8), element: Array("done".utf8), takeNext: true)
        #expect(c.held && c.next == nil && c.lostTo != nil)
        #expect(try f.strings(f.keys.results) == ["rec"])
        #expect(try f.strings(f.keys.pending) == ["next"])
        #expect(try f.redis.send(["EXISTS", RedisArg(f.queue.processingKey)]).int == 0)
    }

    @Test("complete takes the next job while the lease is ours")
    func completeTakesNext() throws {
        let f = try Fixture("fence-complete-ok")
        try f.lease(Self.mine)
        try f.redis.lpush(f.keys.pending, strings: ["next"])
        try f.redis.lpush(f.queue.processingKey, strings: ["done"])
        let c = try f.queue.complete(record: Array("rec".utf8), element: Array("done".utf8), takeNext: true)
        #expect(c.next == Array("next".utf8) && c.lostTo == nil)
        #expect(try f.strings(f.queue.processingKey) == ["next"])
    }

    @Test("after a blocking take, a lease not ours puts the job back untouched at the front", arguments: Holder.allCases)
    func confirmPutsBack(_ holder: Holder) throws {
        let f = try Fixture("fence-confirm")
        try f.redis.lpush(f.keys.pending, strings: ["j1", "j2"])
        try f.lease(Self.mine)
        let element = try #require(try f.queue.pop(timeout: .milliseconds(100)))
        try Self.set(holder, f)
        #expect(try f.queue.confirm(element) != nil)
        #expect(try f.strings(f.keys.pending) == ["j2", "j1"])  // j1 back where a pop takes it first
        #expect(try f.redis.send(["EXISTS", RedisArg(f.queue.processingKey)]).int == 0)
    }

    @Test("after a blocking take, a lease still ours keeps the job")
    func confirmKeeps() throws {
        let f = try Fixture("fence-confirm-ok")
        try f.redis.lpush(f.keys.pending, strings: ["j1"])
        try f.lease(Self.mine)
        let element = try #require(try f.queue.pop(timeout: .milliseconds(100)))
        #expect(try f.queue.confirm(element) == nil)
        #expect(try f.strings(f.queue.processingKey) == ["j1"])
    }

    @Test("a worker without a lease takes as before, whatever the slot keys hold")
    func noFence() throws {
        let f = try Fixture("fence-none")
        try f.lease(Self.theirs)
        let plain = RedisJobQueue(redis: f.redis, keys: f.keys, workerID: "w")
        try f.redis.lpush(f.keys.pending, strings: ["j1", "j2"])
        #expect(try plain.take().job == Array("j1".utf8))
        #expect(try plain.complete(record: Array("r".utf8), element: Array("j1".utf8), takeNext: true).next == Array("j2".utf8))
        #expect(try plain.confirm(Array("j2".utf8)) == nil)
    }

    @Test("Redis lost the fleet's keys (no epoch), or the fleet reclaims its slots: a missing lease means wait, not lost; nothing written",
          arguments: ["no epoch", "reclaim window"])
    func keysLostWaits(_ case_: String) throws {
        let f = try Fixture("fence-keys-lost")
        try f.redis.lpush(f.keys.pending, strings: ["j1", "j2"])
        try f.lease(nil)
        if case_ == "no epoch" { _ = try f.redis.send(["DEL", RedisArg(f.epochKey)]) }
        else { _ = try f.redis.send(["SET", RedisArg(f.reclaimKey), "1", "PX", "15000"]) }
        let take = try f.queue.take()
        #expect(take.job == nil && take.lostTo == LeaseFence.keysLost)
        #expect(try f.strings(f.keys.pending) == ["j2", "j1"])
        #expect(try f.redis.send(["EXISTS", RedisArg(f.queue.processingKey)]).int == 0)
        // A lease of another host is still lost, whatever the fleet's keys say.
        try f.lease(Self.theirs)
        #expect(try f.queue.take().lostTo == Self.theirs)
        // Taken back by our orchestrator: the take goes through.
        try f.lease(Self.mine)
        #expect(try f.queue.take().job == Array("j1".utf8))
    }
}
