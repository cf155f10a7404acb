import Foundation
@testable import OrchestratorCore
import Testing
import TestSupport

/// The renewal's cost and the member records (issue 21 §1): one script whose inner commands do
/// not grow with the fleet's hosts or slots, member records that expire, and their readers.
@Suite("fleet renewal: constant cost, member records", .requiresRedis)
struct FleetRenewalTests {
    func member(_ prefix: String, _ id: String, maxTotal: Int = 12, ttl: Duration = .seconds(15)) -> FleetMembership {
        FleetMembership(prefix: prefix, settings: FleetSettings(hostID: id, hostMaxWorkers: 6, leaseTTL: ttl),
                        policy: ScalingPolicy(maxPerQueue: maxTotal, maxTotal: maxTotal))
    }

    /// Calls per command since the server started (`INFO commandstats`), INFO left out.
    func commandCalls(_ c: RedisConnection) throws -> [String: Int] {
        let text = try c.send(["INFO", "commandstats"]).text ?? ""
        var calls: [String: Int] = [:]
        for line in text.split(whereSeparator: \.isNewline) where line.hasPrefix("cmdstat_") {
            let name = String(line.dropFirst(8).prefix { $0 != ":" })
            guard name != "info", let r = line.range(of: "calls="), let n = Int(line[r.upperBound...].prefix { $0.isNumber }) else { continue }
            calls[name] = n
        }
        return calls
    }

    /// The commands Redis ran while `body` did (calls per command; INFO left out).
    func commandsRun(_ c: RedisConnection, _ body: () throws -> Void) throws -> [String: Int] {
        let before = try commandCalls(c)
        try body()
        var delta: [String: Int] = [:]
        for (name, n) in try commandCalls(c) where n != before[name] { delta[name] = n - (before[name] ?? 0) }
        return delta
    }

    /// The commands one renewal of h1 (2 leases of its own) runs, in a fleet of `hosts` members
    /// whose other hosts hold `othersLeased` of `maxTotal` slots.
    func renewalCommands(_ c: RedisConnection, prefix: String, hosts: Int, maxTotal: Int, othersLeased: Int) throws -> [String: Int] {
        let me = member(prefix, "h1", maxTotal: maxTotal)
        #expect(try me.join(c) == .joined)
        let mine = try me.acquire(c, queue: "a", count: 2).map { (slot: $0, queue: "a") }
        for i in stride(from: 2, through: hosts, by: 1) {
            let other = member(prefix, "h\(i)", maxTotal: maxTotal)
            #expect(try other.join(c) == .joined)
            _ = try other.acquire(c, queue: "q\(i % 5)", count: othersLeased / max(1, hosts - 1))
        }
        _ = try me.tick(c, leases: mine, info: MemberInfo())  // the script is loaded, the view settled
        var reply = RedisReply.null
        let delta = try commandsRun(c) { reply = try me.tick(c, leases: mine, info: MemberInfo()) }
        guard case .view(let view) = FleetMembership.parseTick(reply) else { Issue.record("no view: \(reply)"); return [:] }
        #expect(view.hosts.count == hosts && view.lost.isEmpty && view.leased == 2 + othersLeased / max(1, hosts - 1) * (hosts - 1), "\(view)")
        return delta
    }

    @Test("one renewal runs as many Redis commands with 1 host and 50 slots as with 20 member records and 500 slots (no command per host or per slot)")
    func renewalCostIsConstant() throws {
        let redis = try PrivateRedis()
        defer { redis.stop() }
        let c = RedisConnection(endpoint: redis.endpoint)
        try c.connect()
        let small = try renewalCommands(c, prefix: "one:", hosts: 1, maxTotal: 50, othersLeased: 0)
        let large = try renewalCommands(c, prefix: "twenty:", hosts: 20, maxTotal: 500, othersLeased: 380)
        let total = { (d: [String: Int]) in d.values.reduce(0, +) }
        #expect(total(small) == total(large) && total(small) > 0, "1 host, 50 slots: \(small); 20 hosts, 500 slots: \(large)")
        #expect(total(large) <= 13, "one script: EVALSHA and its inner commands, two of them per lease of ours: \(large)")
    }

    @Test("an expired member record is ignored by the renewal and by status, and removed by the renewal")
    func expiredRecordIgnoredAndRemoved() throws {
        let prefix = TestEnv.uniquePrefix("expmember")
        let c = try TestEnv.connect()
        let m = member(prefix, "h1")
        #expect(try m.join(c) == .joined)
        let ghost = #"{"expires_at":1000,"instance":"x","caps":"\#(m.caps)","pid":4242,"queues":["ghostq"]}"#
        _ = try c.send(["HSET", RedisArg(m.membersKey), "ghost", RedisArg(ghost)])
        guard case .view(let view) = FleetMembership.parseTick(try m.tick(c, leases: [], info: MemberInfo())) else { Issue.record("no view"); return }
        #expect(view.hosts.map(\.id) == ["h1"] && !view.watchedQueues.contains("ghostq"), "\(view.hosts)")
        #expect(try c.send(["HEXISTS", RedisArg(m.membersKey), "ghost"]).int == 0, "removed by the renewal")
        _ = try c.send(["HSET", RedisArg(m.membersKey), "ghost", RedisArg(ghost)])
        #expect(try FleetMembership.members(c, prefix: prefix).map(\.id) == ["h1"], "status reads only live records")
        let other = member(prefix, "h2", maxTotal: 99)
        #expect(try other.join(c) == .capsDiffer(host: "h1", caps: m.caps), "a live record's caps are checked at join")
        try m.leave(c)
        #expect(try other.join(c) == .joined, "an expired record's caps are not")
    }

    @Test("status lists each live host with its workers per queue, from the member records")
    func statusHostsTable() throws {
        let prefix = TestEnv.uniquePrefix("sthosts")
        let c = try TestEnv.connect()
        for (id, per) in [("h1", ["a": 2]), ("h2", ["b": 1])] {
            let m = member(prefix, id)
            #expect(try m.join(c) == .joined)
            var info = MemberInfo()
            info.pid = id == "h1" ? 4711 : 4712
            info.machine = "box-\(id)"
            info.capacity = 6
            info.workers = per.values.reduce(0, +)
            info.workersPerQueue = per
            info.updatedAt = WallClock.nowMilliseconds()
            info.queues = ["a", "b"]
            _ = try m.tick(c, leases: [], info: info)
        }
        let report = try StatusReport.collect(redis: c, prefix: prefix, requested: ["a", "b"], fallback: [])
        #expect(report.hosts.map(\.id) == ["h1", "h2"] && report.hosts.map(\.perQueue) == [["a": 2], ["b": 1]])
        let rows = report.table.split(separator: "\n").filter { $0.hasPrefix("h1 ") || $0.hasPrefix("h2 ") }
        #expect(rows.count == 2 && rows[0].contains("4711") && rows[0].contains("box-h1") && rows[0].contains("a=2")
                && rows[1].contains("b=1"), "\(report.table)")
        let hosts = jsonObject(Array(report.json.utf8))["hosts"] as? [[String: Any]] ?? []
        #expect(hosts.compactMap { $0["host_id"] as? String } == ["h1", "h2"] && (hosts.first?["workers_per_queue"] as? [String: Int]) == ["a": 2])
    }

    @Test("an idle host renews its membership every idle period, a host with a lease on every call")
    func idleHostRenewsLess() throws {
        let prefix = TestEnv.uniquePrefix("idleren")
        let log = LineLog()
        let m = member(prefix, "h1")
        let leases = FleetLeases(membership: m, capacity: 6, link: RedisLink(connection: try TestEnv.connect(), logger: log.logger), logger: log.logger)
        #expect(leases.isDue(workers: 0), "the first renewal is due at once")
        guard case .renewed = leases.renew(workers: 0) else { Issue.record("no renewal"); return }
        #expect(!leases.isDue(workers: 0), "idle: not due before the idle period (\(leases.leaseClock.idleRenewalPeriod))")
        #expect(leases.isDue(workers: 1), "a worker needs its lease renewed")
        let granted = leases.acquire(["a"], order: ["a"])
        #expect(granted.count == 1 && leases.context.leasedPerQueue == ["a": 1], "the view counts the lease taken")
        leases.started(5_000_001, slot: granted[0].slot, queue: "a", process: nil)
        #expect(leases.isDue(workers: 0))
        leases.exited(5_000_001)
        #expect(leases.context.leasedPerQueue.isEmpty)
    }

    @Test("an idle host's renewal is membership only (4 commands, not 8) and keeps the counts it last read; jobs waiting bring the full renewal back")
    func idleRenewalIsMembershipOnly() throws {
        let redis = try PrivateRedis()
        defer { redis.stop() }
        let c = RedisConnection(endpoint: redis.endpoint)
        try c.connect()
        let other = member("idle:", "h2")
        #expect(try other.join(c) == .joined && other.acquire(c, queue: "b", count: 2).count == 2)
        let log = LineLog()
        let own = RedisConnection(endpoint: redis.endpoint)
        try own.connect()
        let leases = FleetLeases(membership: member("idle:", "h1"), capacity: 6, link: RedisLink(connection: own, logger: log.logger), logger: log.logger)
        guard case .renewed = leases.renew(workers: 0) else { Issue.record("no first renewal"); return }
        #expect(leases.context.leasedPerQueue == ["b": 2], "the first renewal reads the counts")
        let cost = { (wanting: Bool) throws -> [String: Int] in
            leases.nextRenewal = .now
            return try commandsRun(c) {
                guard case .renewed = leases.renew(workers: 0, wanting: wanting) else { Issue.record("no renewal"); return }
            }
        }
        let idle = try cost(false)
        #expect(idle == ["evalsha": 1, "time": 1, "hgetall": 1, "hset": 1], "\(idle)")
        #expect(leases.context.leasedPerQueue == ["b": 2] && leases.view.hosts.map(\.id) == ["h1", "h2"], "counts kept, hosts read")
        let full = try cost(true)
        #expect(full["zcard"] == 1 && full["zrangebyscore"] == 1 && full.values.reduce(0, +) > 4, "\(full)")
        #expect(try FleetMembership.members(c, prefix: "idle:").map(\.id) == ["h1", "h2"], "the idle host's record stays live")
    }
}
