import Foundation
import OrchestratorCore
import Testing
import TestSupport

/// The fleet's membership and slot leases are Lua scripts: these run them against a real
/// redis-server, several connections racing as hosts.
@Suite("fleet membership and slot leases against a real redis-server", .requiresRedis)
struct FleetLeaseTests {
    func member(_ prefix: String, _ id: String, maxTotal: Int = 12, maxPerQueue: Int = 10, ttl: Duration = .seconds(15)) -> FleetMembership {
        FleetMembership(prefix: prefix, settings: FleetSettings(hostID: id, hostMaxWorkers: 6, leaseTTL: ttl),
                        policy: ScalingPolicy(maxPerQueue: maxPerQueue, maxTotal: maxTotal))
    }

    @Test("8 hosts racing for slots: never more than --max-per-queue for a queue nor --max-total in all")
    func strictCaps() throws {
        let prefix = TestEnv.uniquePrefix("lease")
        final class Tally: @unchecked Sendable {
            let lock = NSLock()
            var counts: [String: Int] = [:]
            func add(_ q: String, _ n: Int) { lock.lock(); counts[q, default: 0] += n; lock.unlock() }
        }
        let granted = Tally()
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            guard let c = try? TestEnv.connect() else { return }
            let m = member(prefix, "h\(i)")
            for _ in 0..<5 {
                let a = (try? m.acquire(c, queue: "a", count: 3)) ?? []
                let b = (try? m.acquire(c, queue: "b", count: 1)) ?? []
                granted.add("a", a.count)
                granted.add("b", b.count)
            }
        }
        let g = granted.counts
        #expect((g["a"] ?? 0) <= 10 && (g["b"] ?? 0) <= 10, "max per queue 10: \(g)")
        #expect((g["a"] ?? 0) + (g["b"] ?? 0) == 12, "120 + 40 asked, 12 slots in all: \(g)")
        let c = try TestEnv.connect()
        let keys = try c.scan(match: QueueKeys.namespace(prefix) + "fleet:slot:*")
        #expect(keys.count == 12)
        #expect(try keys.allSatisfy { (try c.send(["PTTL", RedisArg($0)]).int ?? 0) > 10_000 }, "every lease expires")
    }

    @Test("join: a second live instance with one host id is refused, other caps are refused, a fresh id joins; leave frees the id")
    func join() throws {
        let prefix = TestEnv.uniquePrefix("join")
        let c = try TestEnv.connect()
        let first = member(prefix, "h1")
        #expect(try first.join(c) == .joined)
        let twin = member(prefix, "h1")
        guard case .held(let pid, _, let instance) = try twin.join(c) else { Issue.record("a twin joined"); return }
        #expect(pid == Int(getpid()) && instance == first.instance)
        #expect(try member(prefix, "h2", maxTotal: 20).join(c) == .capsDiffer(host: "h1", caps: first.caps))
        #expect(try member(prefix, "h2").join(c) == .joined)
        #expect(try twin.join(c, replacing: first.instance) == .joined, "a dead instance's id can be taken over explicitly")
        try twin.leave(c)
        #expect(try member(prefix, "h1").join(c) == .joined)
    }

    @Test("tick: renews our leases, takes back one whose key vanished, reports one another host holds, lists the hosts; another instance on our id is reported")
    func tick() throws {
        let prefix = TestEnv.uniquePrefix("tick")
        let c = try TestEnv.connect()
        let m = member(prefix, "h1")
        #expect(try m.join(c) == .joined)
        let slots = try m.acquire(c, queue: "a", count: 3)
        #expect(slots == [1, 2, 3])
        _ = try c.send(["DEL", RedisArg(QueueKeys.namespace(prefix) + "fleet:slot:2")])
        _ = try c.send(["SET", RedisArg(QueueKeys.namespace(prefix) + "fleet:slot:3"), RedisArg(member(prefix, "h2").lease("a").encoded)])
        let reply = try m.tick(c, leases: slots.map { ($0, "a") }, fields: [("workers", "3")])
        guard case .view(let view) = FleetMembership.parseTick(reply) else { Issue.record("no view: \(reply)"); return }
        #expect(view.lost.sorted() == [3], "slot 2's key was gone (a Redis restart): taken again; slot 3 is another host's")
        #expect(view.hosts.map(\.id) == ["h1"] && view.hosts[0].workers == 3 && view.hosts[0].capacity == 6)
        #expect(view.held(by: "h1") == ["a": 2] && view.leased == 3 && view.slots.count == 12)
        let other = member(prefix, "h1")
        #expect(try other.join(c, replacing: m.instance) == .joined)
        let again = try m.tick(c, leases: [], fields: [])
        #expect(FleetMembership.parseTick(again) == .taken(by: other.instance))
    }

    @Test("a lease not renewed expires and another host takes the slot; a released one is free at once")
    func expiry() throws {
        let prefix = TestEnv.uniquePrefix("expire")
        let c = try TestEnv.connect()
        let a = member(prefix, "h1", maxTotal: 2, ttl: .milliseconds(300))
        let b = member(prefix, "h2", maxTotal: 2, ttl: .milliseconds(300))
        #expect(try a.acquire(c, queue: "q", count: 2) == [1, 2])
        #expect(try b.acquire(c, queue: "q", count: 1).isEmpty, "both slots leased")
        #expect(try a.release(c, [(1, "q")]) == 1)
        #expect(try b.acquire(c, queue: "q", count: 1) == [1])
        #expect(try a.release(c, [(1, "q")]) == 0, "not ours any more: left alone")
        #expect(waitUntil(timeout: .seconds(3)) { ((try? b.acquire(c, queue: "q", count: 1)) ?? []) == [2] })
    }
}
