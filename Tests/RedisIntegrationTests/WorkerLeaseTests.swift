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

    func env(_ h: WorkerHarness, key: String) -> [String: String] {
        _ = try? h.redis.send(["SET", RedisArg(QueueKeys.namespace(h.prefix) + "fleet:epoch"), "1"])  // a live fleet
        return [LeaseFence.keyVariable: key, LeaseFence.holderVariable: Self.mine, LeaseFence.marginVariable: "1000"]
    }

    @Test("lease taken by another host mid-run: the worker stops taking, exits 77, no job lost or run twice")
    func leaseTakenMidRun() throws {
        let h = try WorkerHarness("lease-mid")
        let key = QueueKeys.namespace(h.prefix) + "fleet:slot:1"
        _ = try h.redis.send(["SET", RedisArg(key), RedisArg(Self.mine), "PX", "60000"])
        let payloads = (0..<30).map { "job-\($0)" }
        try h.redis.lpush(h.keys.pending, strings: payloads)
        let worker = try h.start(handler: "sleep 0.1; cat", env: env(h, key: key))
        #expect(waitUntil { ((try? h.results().count) ?? 0) >= 3 }, "worker log: \(worker.output)")
        _ = try h.redis.send(["SET", RedisArg(key), "h2\ninst-b\nq", "PX", "60000"])
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
        let h = try WorkerHarness("lease-lost-keys")
        let key = QueueKeys.namespace(h.prefix) + "fleet:slot:4"
        _ = try h.redis.send(["SET", RedisArg(key), RedisArg(Self.mine), "PX", "60000"])
        let worker = try h.start(handler: "sleep 0.05; cat", env: env(h, key: key))
        try h.redis.lpush(h.keys.pending, strings: (0..<5).map { "a-\($0)" })
        #expect(waitUntil { ((try? h.results().count) ?? 0) == 5 }, "worker log: \(worker.output)")
        // What a restart without persistence leaves: no lease, no epoch (the queue's jobs pushed again by producers).
        _ = try h.redis.send(["DEL", RedisArg(key), RedisArg(QueueKeys.namespace(h.prefix) + "fleet:epoch")])
        try h.redis.lpush(h.keys.pending, strings: (0..<5).map { "b-\($0)" })
        #expect(waitUntil { worker.output.contains("lease.waiting") }, "worker log: \(worker.output)")
        #expect(try h.redis.lrange(h.keys.pending).count == 5)  // nothing taken without the lease
        // Its orchestrator takes the lease back (and the fleet writes its epoch again).
        _ = try h.redis.send(["SET", RedisArg(QueueKeys.namespace(h.prefix) + "fleet:epoch"), "2"])
        _ = try h.redis.send(["SET", RedisArg(key), RedisArg(Self.mine), "PX", "60000"])
        #expect(waitUntil { ((try? h.results().count) ?? 0) == 10 }, "worker log: \(worker.output)")
        #expect(worker.output.contains("lease.reclaimed"), "worker log: \(worker.output)")
        #expect(!worker.output.contains("lease.lost"), "worker log: \(worker.output)")
        #expect(worker.status == nil)  // still the same process: not restarted
        worker.signal(SIGTERM)
        #expect(worker.wait() == .exited(0), "worker log: \(worker.output)")
    }

    @Test("an idle worker whose lease is not renewed exits before it expires and takes nothing after")
    func idleLeaseExpires() throws {
        let h = try WorkerHarness("lease-idle")
        let key = QueueKeys.namespace(h.prefix) + "fleet:slot:2"
        _ = try h.redis.send(["SET", RedisArg(key), RedisArg(Self.mine), "PX", "3000"])
        let worker = try h.start(handler: "cat", env: env(h, key: key))
        #expect(worker.wait() == .exited(ExitCodes.leaseLost), "worker log: \(worker.output)")
        // It stopped while the lease still existed (the margin), i.e. before another host could take the slot.
        #expect(worker.output.contains("expiring, not renewed"), "worker log: \(worker.output)")
        #expect(try h.results().isEmpty)
    }

    @Test("a job arriving after the lease went to another host is put back untouched by the blocked worker")
    func blockedTakeConfirms() throws {
        let h = try WorkerHarness("lease-block")
        let key = QueueKeys.namespace(h.prefix) + "fleet:slot:3"
        _ = try h.redis.send(["SET", RedisArg(key), RedisArg(Self.mine), "PX", "60000"])
        let worker = try h.start(handler: "cat", env: env(h, key: key))
        #expect(waitUntil { (try? h.heartbeatState(pid: worker.pid)) == "idle" }, "worker log: \(worker.output)")
        _ = try h.redis.send(["SET", RedisArg(key), "h2\ninst-b\nq", "PX", "60000"])
        try h.redis.lpush(h.keys.pending, strings: ["late"])
        #expect(worker.wait() == .exited(ExitCodes.leaseLost), "worker log: \(worker.output)")
        #expect(try h.results().isEmpty)
        #expect(try h.redis.lrange(h.keys.pending).map { String(decoding: $0, as: UTF8.self) } == ["late"])
        #expect(try h.processing().isEmpty)
    }
}
