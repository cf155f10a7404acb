import Foundation
import Logging
@testable import OrchestratorCore
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
        var info = MemberInfo()
        info.workers = 3
        info.capacity = 6
        info.queues = ["b", "a"]
        let reply = try m.tick(c, leases: slots.map { ($0, "a") }, info: info)
        guard case .view(let view) = FleetMembership.parseTick(reply) else { Issue.record("no view: \(reply)"); return }
        #expect(view.lost.sorted() == [3], "slot 2's key was gone (a Redis restart): taken again; slot 3 is another host's")
        #expect(view.hosts.map(\.id) == ["h1"] && view.hosts[0].workers == 3 && view.hosts[0].capacity == 6)
        #expect(view.hosts.first?.queues == ["b", "a"] && view.watchedQueues == ["a", "b"])
        #expect(view.perQueue == ["a": 2] && view.leased == 2 && view.leasedByInstance == ["h1\n" + m.instance: 2],
                "slots 1 and 2 are ours, 3 was written behind the scripts' back (not counted): \(view)")
        let other = member(prefix, "h1")
        #expect(try other.join(c, replacing: m.instance) == .joined)
        let again = try m.tick(c, leases: [], info: MemberInfo())
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

    // MARK: - Faults of issue 21 §0 (2-5), through `FleetLeases` as the Supervisor drives it

    func leases(_ m: FleetMembership, _ log: LineLog) throws -> FleetLeases {
        let link = RedisLink(connection: try TestEnv.connect(), logger: log.logger)
        return FleetLeases(membership: m, capacity: 6, link: link, logger: log.logger)
    }

    /// Deletes every key of the prefix: what a Redis restart without persistence does to the fleet.
    func loseFleetKeys(_ prefix: String) throws {
        let c = try TestEnv.connect()
        for key in try c.scan(match: QueueKeys.namespace(prefix) + "*") { _ = try c.send(["DEL", RedisArg(key)]) }
    }

    @Test("caps check on rejoin: a host whose membership lapsed rejoins beside a host with another --max-total: fleet.caps_differ, and it starts no worker")
    func capsCheckedOnRejoin() throws {
        let prefix = TestEnv.uniquePrefix("capsrejoin")
        let log = LineLog()
        let c = try TestEnv.connect()
        let m1 = member(prefix, "h1", maxTotal: 6)
        #expect(try m1.join(c) == .joined)
        let h1 = try leases(m1, log)
        guard case .renewed = h1.renew(workers: 0) else { Issue.record("no renewal"); return }
        _ = try c.send(["HDEL", RedisArg(m1.membersKey), "h1"])  // idle, cut off: its membership lapsed
        let m2 = member(prefix, "h2", maxTotal: 8)
        #expect(try m2.join(c) == .joined, "h1 was not a member: h2 joins with its own caps")
        _ = h1.renew(workers: 0)
        let line = log.entries.first { $0.message == "fleet.caps_differ" }
        #expect(line?.metadata["other_host"] == "h2" && line?.metadata["theirs"]?.contains("max_total=8") == true, "\(log.entries)")
        #expect(!h1.mayStartWorkers(), "a host rejoining among other caps starts no worker")
        #expect(h1.acquire(["a"], order: ["a"]).isEmpty)
        #expect(log.entries.contains { $0.message == "fleet.waiting_for_slot" && ($0.metadata["why"] ?? "").contains("fleet.caps_differ") })
        _ = h1.renew(workers: 0)
        #expect(log.entries.filter { $0.message == "fleet.caps_differ" }.count == 1, "said once, not every renewal")
        try m2.leave(c)
        _ = h1.renew(workers: 0)
        #expect(log.entries.contains { $0.message == "fleet.caps_agree" } && h1.mayStartWorkers())
    }

    @Test("Redis restarted without persistence: the first host back takes no slot of another host's running workers; that host keeps all its workers")
    func restartWithoutPersistence() throws {
        let prefix = TestEnv.uniquePrefix("reclaim")
        let log1 = LineLog(), log2 = LineLog()
        let c = try TestEnv.connect()
        let m1 = member(prefix, "h1", maxTotal: 6), m2 = member(prefix, "h2", maxTotal: 6)
        #expect(try m1.join(c) == .joined && m2.join(c) == .joined)
        let h1 = try leases(m1, log1), h2 = try leases(m2, log2)
        _ = h1.renew(workers: 0)
        _ = h2.renew(workers: 0)
        for (i, grant) in h1.acquire(["a", "a", "a"], order: ["a"]).enumerated() { h1.started(Int32(5_000_001 + i), slot: grant.slot, queue: "a", process: nil) }
        for (i, grant) in h2.acquire(["a", "a", "a"], order: ["a"]).enumerated() { h2.started(Int32(5_000_101 + i), slot: grant.slot, queue: "a", process: nil) }
        #expect(h1.heldLeases.map(\.slot) == [1, 2, 3] && h2.heldLeases.map(\.slot) == [4, 5, 6])
        try loseFleetKeys(prefix)
        // h1 is back first: it takes back its own slots, and its plan (it sees only itself) asks for 3 more.
        _ = h1.renew(workers: 3)
        let rejoined = log1.entries.first { $0.message == "fleet.rejoined" }
        #expect(rejoined?.metadata["why"]?.contains("Redis lost the fleet's keys") == true, "\(log1.entries)")
        #expect(h1.acquire(["a", "a", "a"], order: ["a"]).isEmpty, "no new slot while hosts take theirs back")
        let wait = log1.entries.first { $0.message == "fleet.waiting_for_slot" }
        #expect(wait?.metadata["granted"] == "0" && wait?.metadata["why"]?.contains("restarted without persistence") == true, "\(log1.entries)")
        guard case .renewed(_, _, let lost) = h2.renew(workers: 3) else { Issue.record("no renewal"); return }
        #expect(lost.isEmpty, "h2's running workers keep their slots: none is killed")
        #expect(h2.heldLeases.map(\.slot) == [4, 5, 6])
        #expect(!log2.entries.contains { $0.message == "fleet.rejoined" && ($0.metadata["why"] ?? "").contains("longer than --lease-ttl") })
    }

    @Test("an earlier instance of our host id left its leases: the wait is named once, with until when")
    func previousInstanceWait() throws {
        let prefix = TestEnv.uniquePrefix("previnst")
        let c = try TestEnv.connect()
        let old = member(prefix, "h1", maxTotal: 2)
        #expect(try old.join(c) == .joined)
        #expect(try old.acquire(c, queue: "a", count: 2) == [1, 2])
        let log = LineLog()
        let fresh = member(prefix, "h1", maxTotal: 2)
        #expect(try fresh.join(c, replacing: old.instance) == .joined)
        let h1 = try leases(fresh, log)
        _ = h1.renew(workers: 0)
        _ = h1.renew(workers: 0)
        let lines = log.entries.filter { $0.message == "fleet.waiting_for_previous_instance" }
        #expect(lines.count == 1 && lines.first?.metadata["slots"] == "2" && lines.first?.metadata["until"]?.contains("at the latest") == true, "\(log.entries)")
        #expect(h1.acquire(["a"], order: ["a"]).isEmpty)
        #expect(log.entries.contains { $0.message == "fleet.waiting_for_slot" && ($0.metadata["why"] ?? "").contains("earlier instance of this --host-id") })
    }

    @Test("recovery never takes the job of another live host's worker whose heartbeat expired (its host requeues it), and still takes a dead host's")
    func recoverySparesLiveHosts() throws {
        let prefix = TestEnv.uniquePrefix("recolive")
        let log = LineLog()
        let s = try makeSupervisor(prefix: prefix, launcher: FakeLauncher(), logger: log.logger) { $0.values[.hostID] = "h1" }
        let settings = s.settings
        let c = try TestEnv.connect()
        let h2 = FleetMembership(prefix: prefix, settings: FleetSettings(hostID: "h2", hostMaxWorkers: 20), policy: settings.policy)
        #expect(try h2.join(c) == .joined)
        s.poll()
        let keys = QueueKeys(prefix: prefix, queue: "q")
        // h2's worker is alive, draining its job, but cut off longer than the heartbeat TTL (10 s): no heartbeat.
        _ = try c.send(["RPUSH", RedisArg(keys.processing("q-1-h2-4242")), "job-live"])
        _ = try c.send(["RPUSH", RedisArg(keys.processing("q-1-h9-4243")), "job-dead"])
        s.recoverAbandoned(reason: "owner heartbeat expired")
        #expect(try c.llen(keys.processing("q-1-h2-4242")) == 1, "taken from a live host's worker: it would run twice")
        #expect(try c.llen(keys.processing("q-1-h9-4243")) == 0, "h9 is no member: its worker is gone")
    }

    @Test("a lease found taken by another host: fleet.lease_lost SIGKILLs the worker and says it held no job when it was idle")
    func leaseLostSaysWhatIsRequeued() throws {
        let prefix = TestEnv.uniquePrefix("leaselost")
        let log = LineLog()
        let launcher = FakeLauncher()
        let s = try makeSupervisor(prefix: prefix, launcher: launcher, logger: log.logger) { $0.values[.hostID] = "h1" }
        let settings = s.settings
        let c = try TestEnv.connect()
        try c.lpush(prefix + "q", strings: ["job-1"])
        s.poll()
        let pid = try #require(launcher.launched.first?.pid)
        let other = FleetMembership(prefix: prefix, settings: FleetSettings(hostID: "h2", hostMaxWorkers: 20), policy: settings.policy)
        _ = try c.send(["SET", RedisArg(QueueKeys.namespace(prefix) + "fleet:slot:1"), RedisArg(other.lease("q").encoded)])
        s.poll()
        #expect(launcher.signalled(SIGKILL).contains(pid))
        let line = log.entries.first { $0.message == "fleet.lease_lost" }
        #expect(line != nil && !(line?.metadata.values.joined() ?? "").contains("its job is requeued"), "\(String(describing: line))")
        #expect(line?.metadata["job"]?.contains("no job to requeue") == true, "\(String(describing: line))")
    }
}
