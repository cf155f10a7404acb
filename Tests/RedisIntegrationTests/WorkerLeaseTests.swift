import Foundation
import OrchestratorCore
import Testing
import TestSupport

/// A worker started under a fleet slot lease (issue 21 §0.1) stops taking jobs when the lease is
/// not its own any more, whatever its orchestrator does: it logs `lease.lost` and exits 77, and
/// every job ends with one result or waits in the queue untouched.
@Suite("worker under a slot lease", .requiresRedis)
struct WorkerLeaseTests {
    static let mine = "h1\ninst-a\nq"

    /// A worker harness in a live fleet (its epoch set), and the key of slot `slot`'s lease, held
    /// by us (`mine`) for `ttlMilliseconds`; `env` starts a worker under that lease.
    struct Leased {
        let h: WorkerHarness
        let key: String
        var env: [String: String] { [LeaseFence.keyVariable: key, LeaseFence.holderVariable: WorkerLeaseTests.mine, LeaseFence.marginVariable: "1000"] }

        init(_ name: String, slot: Int, ttlMilliseconds: Int = 60_000) throws {
            h = try WorkerHarness(name)
            key = QueueKeys.namespace(h.prefix) + "fleet:slot:\(slot)"
            _ = try h.redis.send(["SET", RedisArg(QueueKeys.namespace(h.prefix) + "fleet:epoch"), "1"])
            try hold(by: WorkerLeaseTests.mine, ttlMilliseconds: ttlMilliseconds)
        }

        /// The lease is `holder`'s now (another host's, or ours again).
        func hold(by holder: String, ttlMilliseconds: Int = 60_000) throws {
            _ = try h.redis.send(["SET", RedisArg(key), RedisArg(holder), "PX", RedisArg("\(ttlMilliseconds)")])
        }
    }

    static let other = "h2\ninst-b\nq"

    @Test("lease taken by another host mid-run: the worker stops taking, exits 77, no job lost or run twice")
    func leaseTakenMidRun() throws {
        let lease = try Leased("lease-mid", slot: 1)
        let h = lease.h
        let payloads = (0..<30).map { "job-\($0)" }
        try h.redis.lpush(h.keys.pending, strings: payloads)
        let worker = try h.start(handler: "sleep 0.1; cat", env: lease.env)
        #expect(waitUntil { ((try? h.results().count) ?? 0) >= 3 }, "worker log: \(worker.output)")
        try lease.hold(by: Self.other)
        #expect(worker.wait() == .exited(ExitCodes.leaseLost), "worker log: \(worker.output)")
        let done = try h.results().compactMap { $0["payload"] as? String }
        let waiting = try h.redis.lrange(h.keys.pending).map { String(decoding: $0, as: UTF8.self) }
        #expect(done.count < payloads.count)
        #expect(Set(done).count == done.count)
        #expect((done + waiting).sorted() == payloads.sorted())
        #expect(Array(waiting.reversed()) == Array(payloads.dropFirst(done.count)))  // untouched, in order
        #expect(try h.processing().isEmpty)
        #expect(worker.output.contains("lease.lost") && worker.output.contains("h2 (instance inst-b)"))
    }

    @Test("Redis lost the fleet's keys (restart without persistence): the worker takes nothing, waits, and goes on once its lease is back; no restart, no job lost")
    func keysLostWaits() throws {
        let lease = try Leased("lease-lost-keys", slot: 4)
        let h = lease.h
        let worker = try h.start(handler: "sleep 0.05; cat", env: lease.env)
        try h.redis.lpush(h.keys.pending, strings: (0..<5).map { "a-\($0)" })
        #expect(waitUntil { ((try? h.results().count) ?? 0) == 5 }, "worker log: \(worker.output)")
        // What a restart without persistence leaves: no lease, no epoch (the queue's jobs pushed again by producers).
        _ = try h.redis.send(["DEL", RedisArg(lease.key), RedisArg(QueueKeys.namespace(h.prefix) + "fleet:epoch")])
        try h.redis.lpush(h.keys.pending, strings: (0..<5).map { "b-\($0)" })
        #expect(waitUntil { worker.output.contains("lease.waiting") }, "worker log: \(worker.output)")
        #expect(try h.redis.lrange(h.keys.pending).count == 5)  // nothing taken without the lease
        // Its orchestrator takes the lease back (and the fleet writes its epoch again).
        _ = try h.redis.send(["SET", RedisArg(QueueKeys.namespace(h.prefix) + "fleet:epoch"), "2"])
        try lease.hold(by: Self.mine)
        #expect(waitUntil { ((try? h.results().count) ?? 0) == 10 }, "worker log: \(worker.output)")
        #expect(worker.output.contains("lease.reclaimed"), "worker log: \(worker.output)")
        #expect(!worker.output.contains("lease.lost"), "worker log: \(worker.output)")
        #expect(worker.status == nil)  // still the same process: not restarted
        worker.signal(SIGTERM)
        #expect(worker.wait() == .exited(0), "worker log: \(worker.output)")
    }

    @Test("an idle worker whose lease is not renewed exits before it expires and takes nothing after")
    func idleLeaseExpires() throws {
        let lease = try Leased("lease-idle", slot: 2, ttlMilliseconds: 3000)
        let h = lease.h
        let worker = try h.start(handler: "cat", env: lease.env)
        #expect(worker.wait() == .exited(ExitCodes.leaseLost), "worker log: \(worker.output)")
        // It stopped while the lease still existed (the margin), i.e. before another host could take the slot.
        #expect(worker.output.contains("expiring, not renewed"), "worker log: \(worker.output)")
        #expect(try h.results().isEmpty)
    }

    @Test("a job arriving after the lease went to another host is put back untouched by the blocked worker")
    func blockedTakeConfirms() throws {
        let lease = try Leased("lease-block", slot: 3)
        let h = lease.h
        let worker = try h.start(handler: "cat", env: lease.env)
        #expect(waitUntil { (try? h.heartbeatState(pid: worker.pid)) == "idle" }, "worker log: \(worker.output)")
        try lease.hold(by: Self.other)
        try h.redis.lpush(h.keys.pending, strings: ["late"])
        #expect(worker.wait() == .exited(ExitCodes.leaseLost), "worker log: \(worker.output)")
        #expect(try h.results().isEmpty)
        #expect(try h.redis.lrange(h.keys.pending).map { String(decoding: $0, as: UTF8.self) } == ["late"])
        #expect(try h.processing().isEmpty)
    }
}
