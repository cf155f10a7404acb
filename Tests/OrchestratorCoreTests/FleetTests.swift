@testable import OrchestratorCore
import Testing

@Suite("fleet: splitting the targets over hosts, the lease clock, the plan of one host (pure)")
struct FleetTests {
    let t0 = ContinuousClock().now
    let three = [FleetHost(id: "h1", capacity: 6), FleetHost(id: "h2", capacity: 6), FleetHost(id: "h3", capacity: 6)]

    func total(_ split: [String: [String: Int]], _ queue: String) -> Int { split.values.reduce(0) { $0 + ($1[queue] ?? 0) } }
    func load(_ split: [String: [String: Int]], _ host: String) -> Int { split[host]?.values.reduce(0, +) ?? 0 }

    @Test("12 workers over 2 queues and 3 equal hosts: 2 + 2 each; the same answer whatever order the hosts come in")
    func evenSplit() {
        let split = FleetShare.split(["a": 6, "b": 6], over: three)
        for h in ["h1", "h2", "h3"] { #expect(split[h] == ["a": 2, "b": 2], "\(split)") }
        #expect(FleetShare.split(["a": 6, "b": 6], over: three.reversed()) == split)
    }

    @Test("a 4-slot host and a 32-slot host: shares follow capacity, no host above its capacity, nothing lost while room remains")
    func byCapacity() {
        let hosts = [FleetHost(id: "small", capacity: 4), FleetHost(id: "big", capacity: 32)]
        let split = FleetShare.split(["a": 20, "b": 16], over: hosts)
        #expect(load(split, "small") == 4 && load(split, "big") == 32, "\(split)")
        #expect(total(split, "a") == 20 && total(split, "b") == 16)
        let few = FleetShare.split(["a": 9], over: hosts)
        #expect(few["small"]?["a"] == 1 && few["big"]?["a"] == 8, "9 × 4/36 = 1, 9 × 32/36 = 8: \(few)")
    }

    @Test("more work than the hosts hold: each host full, the rest left out")
    func overCapacity() {
        let split = FleetShare.split(["a": 10, "b": 10], over: [FleetHost(id: "h1", capacity: 3), FleetHost(id: "h2", capacity: 5)])
        #expect(load(split, "h1") == 3 && load(split, "h2") == 5, "\(split)")
    }

    @Test("one host gone: the others take its share; one more job's worth moves one unit of one queue only")
    func stability() {
        let before = FleetShare.split(["a": 6, "b": 6], over: three)
        let after = FleetShare.split(["a": 6, "b": 6], over: Array(three.prefix(2)))
        #expect(after["h1"] == ["a": 3, "b": 3] && after["h2"] == ["a": 3, "b": 3], "\(after)")
        let grown = FleetShare.split(["a": 7, "b": 6], over: three)
        var moved = 0
        for h in ["h1", "h2", "h3"] {
            for q in ["a", "b"] { moved += abs((grown[h]?[q] ?? 0) - (before[h]?[q] ?? 0)) }
        }
        #expect(moved == 1 && total(grown, "a") == 7, "\(before) → \(grown)")
    }

    @Test("the single remainders of different queues land on different hosts")
    func remaindersSpread() {
        let queues = Dictionary(uniqueKeysWithValues: (1...12).map { ("q\($0)", 1) })
        let split = FleetShare.split(queues, over: three)
        #expect(["h1", "h2", "h3"].allSatisfy { load(split, $0) >= 2 }, "12 one-worker queues spread: \(split)")
    }

    @Test("the lease clock: confirmed; a failed renewal stops starts but fences only a second before the lease can expire; a renewal restores it")
    func leaseClock() {
        var c = LeaseClock(ttl: .seconds(15))
        #expect(c.state(at: t0) == .confirmed && c.killAt == nil, "nothing renewed, nothing held")
        c.renewed(sentAt: t0)
        #expect(c.state(at: t0 + .seconds(10)) == .confirmed, "no renewal due failed: nothing changes")
        #expect(c.state(at: t0 + .seconds(14)) == .expired)
        #expect(c.killAt == t0 + .seconds(14))
        c.renewed(sentAt: t0 + .seconds(12))
        #expect(c.state(at: t0 + .seconds(14)) == .confirmed)
        c.renewed(sentAt: t0 + .seconds(1))
        #expect(c.validUntil == t0 + .seconds(27), "an older renewal answered late does not move the deadline back")
    }

    @Test("a 10 s Redis restart at the default --lease-ttl: no worker starts while renewals fail, none is fenced, and starts resume at the first renewal")
    func leaseClockRidesOutARestart() {
        var c = LeaseClock(ttl: .seconds(15))
        c.renewed(sentAt: t0)
        // Redis goes away just after that renewal; the next one, due a second later, fails, and the
        // link retries every 500 ms until the server answers 10 s later.
        let first = c.renewalFailed(at: t0 + .seconds(1))
        #expect(first, "the first failure is the one logged")
        var t = t0 + .seconds(1)
        while t < t0 + .milliseconds(11_500) {
            let again = c.renewalFailed(at: t)
            #expect(!again, "one line per outage")
            #expect(c.state(at: t) == .unconfirmed && !c.mayStartWorkers(at: t), "at \(t - t0): no new worker, no drain, no fence")
            t = t + .milliseconds(500)
        }
        let since = c.renewed(sentAt: t0 + .milliseconds(11_500))
        #expect(since == t0 + .seconds(1), "the renewal says since when it failed")
        #expect(c.state(at: t0 + .seconds(12)) == .confirmed && c.mayStartWorkers(at: t0 + .seconds(12)))
        #expect(c.killAt == t0 + .milliseconds(25_500))
        #expect(c.outageRiddenOut == .milliseconds(12_500), "the README's figure: --lease-ttl - 1 s margin - 1 s renewal period - 500 ms reconnection")
    }

    @Test("a host cut off for good: still unconfirmed at --lease-ttl - 1 s minus a hair, expired (fenced) from then on, before another host could take a slot")
    func leaseClockFencesACutOffHost() {
        var c = LeaseClock(ttl: .seconds(15))
        c.renewed(sentAt: t0)
        c.renewalFailed(at: t0 + .seconds(1))
        #expect(c.state(at: t0 + .milliseconds(13_999)) == .unconfirmed)
        #expect(c.state(at: t0 + .seconds(14)) == .expired)
        #expect(c.state(at: t0 + .seconds(30)) == .expired && !c.mayStartWorkers(at: t0 + .seconds(30)))
        let short = LeaseClock(ttl: .seconds(3))
        #expect(short.killMargin == .milliseconds(750) && short.outageRiddenOut == .seconds(1), "the shortest --lease-ttl still rides out 1 s")
    }

    @Test("an idle host renews its membership every TTL / 2, at most 7.5 s and never more often than a busy one", arguments: [
        (3, 1500), (15, 7500), (9, 4500), (600, 7500), (2, 1000),
    ])
    func idleRenewalPeriod(ttl: Int, ms: Int) {
        let c = LeaseClock(ttl: .seconds(ttl))
        #expect(c.idleRenewalPeriod == .milliseconds(ms) && c.idleRenewalPeriod >= c.renewalPeriod && c.idleRenewalPeriod * 2 <= c.ttl)
    }

    @Test("member records: a record reads back with its queues; the fleet's watched queues are the union, sorted; lease counts follow acquire and release")
    func memberRecords() {
        var info = MemberInfo()
        info.pid = 7
        info.queues = ["b", "a"]
        info.workersPerQueue = ["a": 2]
        let record = #"{"expires_at":99,"instance":"i1","caps":"c","# + info.encoded.dropFirst()
        let m = FleetMember(id: "h1", record: record)
        #expect(m?.pid == 7 && m?.queues == ["b", "a"] && m?.workersPerQueue == ["a": 2] && m?.instance == "i1" && m?.expiresAt == 99)
        #expect(FleetMember(id: "h1", record: "not json") == nil)
        var other = FleetMember(id: "h2", capacity: 1, pid: 8, updatedAt: 0, state: "running", workers: 0, machine: "m", startedAt: 0)
        other.queues = ["c", "a"]
        var view = FleetView(hosts: [m!, other])
        #expect(view.watchedQueues == ["a", "b", "c"])
        view.count(LeaseValue(host: "h1", instance: "i0", queue: "a"), 1)
        view.count(LeaseValue(host: "h1", instance: "i1", queue: "a"), 1)
        #expect(view.perQueue == ["a": 2] && view.leased == 2 && view.leasedByOtherInstances(of: "h1", than: "i1") == 1)
        view.count(LeaseValue(host: "h1", instance: "i0", queue: "a"), -1)
        #expect(view.perQueue == ["a": 1] && view.leasedByOtherInstances(of: "h1", than: "i1") == 0)
    }

    func fleet(_ me: String, leased: [String: Int], hosts: [FleetHost]? = nil, capacity: Int = 6) -> FleetContext {
        FleetContext(me: me, hosts: hosts ?? three, capacity: capacity, leasedPerQueue: leased, leased: leased.values.reduce(0, +))
    }

    func worker(_ pid: Int32, _ queue: String) -> WorkerSnapshot { WorkerSnapshot(pid: pid, queue: queue, startedAt: t0 - .seconds(100)) }

    @Test("one host's plan: its share of the fleet target, and the [ESCALAR] line names the fleet target and the share")
    func hostPlan() {
        let r = Reconcile(policy: ScalingPolicy(maxPerQueue: 12, maxTotal: 12), summaryInterval: .seconds(60))
        let plan = r.plan(queues: [QueueSnapshot(name: "a", pending: 750), QueueSnapshot(name: "b", pending: 750)], workers: [], now: t0,
                          fleet: fleet("h2", leased: [:]))
        #expect(plan.spawns.sorted() == ["a", "a", "b", "b"])
        #expect(plan.queues["a"]?.fleetTarget == 6 && plan.queues["a"]?.target.allotted == 2)
        #expect(plan.lines.first?.hasPrefix("[ESCALAR] a: 750 jobs → criando 2 worker(s) (total: 0 → 2)") == true)
        #expect(plan.lines.first?.contains("fleet target 6 on 3 hosts, this host's share 2 (h2)") == true, "\(plan.lines)")
    }

    @Test("no spawn beyond the free leases of the fleet, nor beyond this host's capacity")
    func leasesBound() {
        let r = Reconcile(policy: ScalingPolicy(maxPerQueue: 12, maxTotal: 12), summaryInterval: .seconds(60))
        let full = r.plan(queues: [QueueSnapshot(name: "a", pending: 750)], workers: [], now: t0, fleet: fleet("h3", leased: ["a": 11]))
        #expect(full.spawns == ["a"], "one lease left of 12: \(full.spawns)")
        let small = r.plan(queues: [QueueSnapshot(name: "a", pending: 750)], workers: [worker(1, "a")], now: t0,
                           fleet: fleet("h1", leased: ["a": 1], hosts: [FleetHost(id: "h1", capacity: 2)], capacity: 2))
        #expect(small.spawns == ["a"], "capacity 2, one running: \(small.spawns)")
    }

    @Test("a host joins: a host above its share gives workers back at once; after a drop in load it waits for --scale-down-delay")
    func giveBack() {
        let r = Reconcile(policy: ScalingPolicy(maxPerQueue: 12, maxTotal: 12), summaryInterval: .seconds(60))
        let mine = (1...6).map { worker(Int32($0), "a") }
        let joined = r.plan(queues: [QueueSnapshot(name: "a", pending: 5000, lastSummary: t0)], workers: mine, now: t0,
                            fleet: fleet("h1", leased: ["a": 12]))
        #expect(joined.terminations.count == 2, "12 of 12 leased, share now 4: \(joined.actions)")
        let quieter = r.plan(queues: [QueueSnapshot(name: "a", pending: 200, lastSummary: t0)], workers: mine, now: t0,
                             fleet: fleet("h1", leased: ["a": 12]))
        #expect(quieter.terminations.isEmpty && quieter.queues["a"]?.lowerTargetSince == t0, "fleet above its target of 4: the delay applies")
    }

    // MARK: - What the fleet's log lines say (issue 21 §0.5)

    @Test("fleet.rejoined says the real cause: lost keys, a hash deleted before it could expire, or a cut-off longer than the TTL",
          arguments: [(true, 3.0, "Redis lost the fleet's keys"), (false, 3.0, "before it could expire"), (false, 20.0, "longer than --lease-ttl")])
    func rejoinCause(reset: Bool, seconds: Double, says: String) {
        let cause = RejoinCause.of(reset: reset, sinceLastRenewal: .milliseconds(Int64(seconds * 1000)), ttl: .seconds(15))
        #expect(cause.why.contains(says), "\(cause.why)")
        #expect(reset || seconds >= 15 || !cause.why.contains("longer than --lease-ttl"), "a 3 s restart is not a cut-off longer than the TTL")
    }

    @Test("why fewer leases were granted than the plan asked for")
    func shortfallWhy() {
        let until = { (d: Duration) in "T+\(d.components.seconds)s" }
        #expect(SlotGrant.Shortfall.reclaiming(left: .seconds(12)).why(maxTotal: 6, maxPerQueue: 10, until: until).contains("restarted without persistence"))
        #expect(SlotGrant.Shortfall.maxTotal(previousInstance: nil).why(maxTotal: 6, maxPerQueue: 10, until: until).contains("--max-total (6)"))
        #expect(SlotGrant.Shortfall.maxTotal(previousInstance: .seconds(13)).why(maxTotal: 6, maxPerQueue: 10, until: until).contains("T+13s"))
        #expect(SlotGrant.Shortfall.maxPerQueue.why(maxTotal: 6, maxPerQueue: 4, until: until).contains("--max-per-queue (4)"))
    }

    @Test("the caps check names each live host with other fleet-wide settings")
    func otherCaps() {
        func host(_ id: String, _ caps: String) -> FleetMember {
            FleetMember(id: id, capacity: 6, pid: 1, updatedAt: 0, state: "running", workers: 0, machine: "m", startedAt: 0, caps: caps)
        }
        let view = FleetView(hosts: [host("h1", "max_total=6"), host("h2", "max_total=8"), host("h3", "max_total=6"), host("h4", "")])
        #expect(view.hostsWithOtherCaps(than: "max_total=6") == ["h2": "max_total=8"])
    }

    @Test("recovery spares our live workers and the workers of other live hosts; a worker id's host is read even when it holds dashes",
          arguments: [("q-1-h1-10", false), ("q-2-h2-11", false), ("q-3-h9-12", true), ("q-1-my-host.a-7", false), ("q-1-dead-host-7", true), ("odd", true)])
    func recoveryRule(owner: String, mayRecover: Bool) {
        #expect(OrphanSweeper.mayRecover(owner: owner, queue: "q", ours: ["q-1-h1-10"], otherHosts: ["h2", "my-host.a"]) == mayRecover)
    }

    @Test("a worker id's parts")
    func workerIDHost() {
        #expect(OrphanSweeper.host(ofWorker: QueueKeys.workerID(queue: "a-b", slot: 12, host: "x-y", pid: 99), queue: "a-b") == "x-y")
        #expect(OrphanSweeper.host(ofWorker: "a-b-1-x", queue: "a-b") == nil)
        #expect(OrphanSweeper.host(ofWorker: "q-1--9", queue: "q") == nil)
    }

    @Test("our member record: capacity capped by --max-total, workers per queue, shares of queues with a target, draining state; jobs waiting in a queue not paused want a renewal every poll")
    func memberRecord() throws {
        var flags = OrchestratorSettings.Flags()
        flags.queues = ["a", "b", "c"]
        flags.handlers = ["a=cat", "b=cat", "c=cat"]
        flags.values[.redisURL] = "redis://fake:6379/0"
        flags.values[.maxTotal] = "5"
        let settings = try OrchestratorSettings.resolve(flags, OptionResolver(environment: [:]), defaultWorkerPath: "/bin/true")
        var states = ["a": SupervisedQueue(), "b": SupervisedQueue(), "c": SupervisedQueue()]
        states["a"]?.target = QueueTarget(demand: 2, allotted: 2)
        let workers = [SupervisedWorker(pid: 7, queue: "a", slot: 1, id: "a-1", startedAt: t0), SupervisedWorker(pid: 8, queue: "a", slot: 2, id: "a-2", startedAt: t0)]
        let info = FleetReactions.memberInfo(settings: settings, pid: 42, machine: "box", startedAt: 9, isDraining: true, workers: workers, states: states)
        #expect(info.pid == 42 && info.machine == "box" && info.capacity == 5 && info.state == "draining" && info.workers == 2 && info.startedAt == 9)
        #expect(info.queues == ["a", "b", "c"] && info.workersPerQueue == ["a": 2] && info.share == ["a": 2])
        #expect(!FleetReactions.wanting(settings.queues, states: states))
        states["b"]?.pending = 3
        states["b"]?.isPaused = true
        #expect(!FleetReactions.wanting(settings.queues, states: states))
        states["c"]?.pending = 1
        #expect(FleetReactions.wanting(settings.queues, states: states))
    }
}
