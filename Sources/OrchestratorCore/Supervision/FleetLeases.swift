import Foundation
import Logging

/// This orchestrator's part in the fleet: its membership (renewed with its member record), the slot
/// leases its workers run under, the lease clock and the fence. It owns that state; the
/// Supervisor passes values in (its workers' pids, the host hash's fields) and acts on the
/// decisions it gets back (which workers to kill, which events to record). It never touches the
/// Supervisor's worker table.
final class FleetLeases {
    /// What one renewal decided.
    enum Renewal {
        /// Redis did not answer: no worker starts until a renewal succeeds.
        case failed
        /// Another instance took our host id: every worker must be killed and we exit 73.
        case hostIDTaken
        /// Renewed: hosts that joined or left since the last view, and the workers whose slot
        /// lease is no longer ours (to SIGKILL at once: another host may run in that slot now).
        case renewed(joined: [String], gone: [String], lost: [(pid: Int32, slot: Int)])
    }

    let membership: FleetMembership
    let link: RedisLink
    let logger: Logger
    /// `--host-max-workers`, never above `--max-total`.
    let capacity: Int
    private let clock = ContinuousClock()
    /// What the last renewal saw.
    private(set) var view = FleetView()
    private(set) var leaseClock: LeaseClock
    let watchdog = FenceWatchdog()
    private var fencesSeen = 0
    /// Another orchestrator took our host id: we stop everything and exit 73.
    private(set) var hostIDTaken = false
    /// The next renewal is due then: a lease renewal period after the last one while we hold
    /// leases (every poll renews too), the idle period while we hold none.
    var nextRenewal: ContinuousClock.Instant
    /// Worker pid → the slot lease it runs under.
    private var held: [Int32: (slot: Int, queue: String)] = [:]
    /// Workers killed by the fence or for a lost lease, not yet exited (their exit says `fenced`).
    private var fenced: Set<Int32> = []
    /// What the renewals' views changed, said once per change (hosts, caps, an earlier instance).
    private var changes: FleetChanges
    /// Live hosts running other fleet-wide settings, as last logged.
    var capsConflict: [String: String] { changes.capsConflict }

    init(membership: FleetMembership, capacity: Int, link: RedisLink, logger: Logger) {
        self.membership = membership
        self.capacity = capacity
        self.link = link
        self.logger = logger
        self.leaseClock = LeaseClock(ttl: membership.settings.leaseTTL)
        self.changes = FleetChanges(membership: membership, ttl: membership.settings.leaseTTL, logger: logger)
        self.nextRenewal = clock.now
    }

    deinit { watchdog.stop() }

    var hostID: String { membership.hostID }

    /// The slot leases our workers hold, by slot.
    var heldLeases: [(slot: Int, queue: String)] { held.values.sorted { $0.slot < $1.slot } }

    /// The slot lease a worker runs under (nil: given up, or never held).
    func lease(of pid: Int32) -> Int? { held[pid]?.slot }

    /// Whether this host writes the fleet-wide records (instance hash, history, alerts).
    var isLeader: Bool { view.leader.map { $0 == hostID } ?? true }

    /// Whether any other live host is in the fleet.
    var hasOtherHosts: Bool { view.hosts.contains { $0.id != hostID } }

    /// The plan's view of the fleet.
    var context: FleetContext {
        var hosts = view.splitHosts
        if !hosts.contains(where: { $0.id == hostID }) { hosts.append(FleetHost(id: hostID, capacity: capacity)) }
        return FleetContext(me: hostID, hosts: hosts, capacity: capacity, leasedPerQueue: view.perQueue, leased: view.leased)
    }

    /// Whether a renewal is due now. A host holding leases renews on every call (every poll):
    /// its workers' fence needs them; so does a host with jobs waiting (`wanting`: its share is
    /// planned on the fleet as it is now). An idle host (no lease, no worker, no job waiting) only
    /// keeps its membership, every `LeaseClock.idleRenewalPeriod`, or sooner after a failed renewal.
    func isDue(workers: Int, wanting: Bool = false) -> Bool { !held.isEmpty || workers > 0 || wanting || clock.now >= nextRenewal }

    /// When the last renewal that read the whole fleet (hosts and lease counts) was sent; an
    /// idle host's membership-only renewals do not move it.
    private(set) var fleetReadAt: ContinuousClock.Instant?

    /// Whether the last renewal succeeded (what a poll that did not renew goes by).
    var lastRenewalSucceeded: Bool { leaseClock.failingSince == nil }

    /// Renews our member record and leases and reads the fleet (one script). On success the lease
    /// deadline moves forward; leases found lost are returned (their workers must be killed at
    /// once). On failure no worker starts until a renewal succeeds (one line when that begins,
    /// one when it ends), the running ones keep running (the watchdog fences them only at
    /// `killAt`), and the renewal is retried every `RedisLink.maxBackoff`.
    func renew(info: MemberInfo = MemberInfo(), workers: Int, wanting: Bool = false) -> Renewal {
        let sentAt = clock.now
        // Draining workers keep their slots until they exit; a slow poll must not let leases lapse.
        let idle = held.isEmpty && workers == 0
        nextRenewal = sentAt + (idle ? leaseClock.idleRenewalPeriod : leaseClock.renewalPeriod)
        let leases = heldLeases
        let fleet = membership
        let renewedBefore = leaseClock.renewedAt != nil
        // Idle (no lease, no worker, nothing waiting: `isDue`): the membership only, half the commands.
        let membershipOnly = idle && renewedBefore && !wanting
        let result = try? link.perform { c throws(RedisError) -> FleetMembership.TickResult? in
            FleetMembership.parseTick(try fleet.tick(c, leases: leases, info: info, renewedBefore: renewedBefore, membershipOnly: membershipOnly))
        }
        guard let tick = result.flatMap({ $0 }) else {
            renewalFailed(sentAt: sentAt, workers: workers)
            return .failed
        }
        switch tick {
        case .taken(let other):
            logger.critical("fleet.host_id_taken", metadata: ["host_id": "\(hostID)", "other_instance": "\(other)",
                                                              "action": "killing our workers and exiting 73: another orchestrator runs under this --host-id"])
            hostIDTaken = true
            return .hostIDTaken
        case .view(let view):
            for fault in view.repaired {  // replaced by the renewal: logged once per occurrence
                logger.error("\(LogEvents.keyError)", metadata: ["key": "\(fault.key)", "error": "\(fault.error)", "action": "replaced: fleet keys hold no job"])
            }
            let lastRenewal = leaseClock.renewedAt.map { sentAt - $0 }
            if let since = leaseClock.renewed(sentAt: sentAt) {
                logger.info("fleet.renewal_resumed", metadata: ["unconfirmed_for": "\(formatDuration(sentAt - since))", "workers": "\(workers)",
                                                                "note": "our slot leases are confirmed again; workers may start"])
            }
            watchdog.setDeadline(leaseClock.killAt)
            if view.countsRead { fleetReadAt = sentAt }
            return absorb(view, lastRenewal: lastRenewal)
        }
    }

    /// A renewal failed: retried sooner, and the first failure of a run says what follows.
    private func renewalFailed(sentAt: ContinuousClock.Instant, workers: Int) {
        nextRenewal = max(sentAt + min(leaseClock.renewalPeriod, RedisLink.maxBackoff), link.nextAttemptAt ?? sentAt)
        guard leaseClock.renewalFailed(at: sentAt) else { return }
        let fenceIn = leaseClock.killAt.map { formatDuration(max(.zero, $0 - sentAt)) } ?? "never (no lease held)"
        logger.warning("fleet.renewal_failed", metadata: ["workers": "\(workers)", "fence_in": "\(fenceIn)",
                                                          "action": "starting no worker until Redis confirms our slot leases; the running ones keep running, and are SIGKILLed only if no renewal succeeds within fence_in (--lease-ttl - 1s after the last one)"])
    }

    private func absorb(_ view: FleetView, lastRenewal: Duration?) -> Renewal {
        let before = Set(self.view.hosts.map(\.id))
        var view = view
        if !view.countsRead {  // a membership-only renewal: the counts last read stand
            view.leasedPerQueue = self.view.leasedPerQueue
            view.leasedByInstance = self.view.leasedByInstance
        }
        self.view = view
        let (joined, gone) = changes.hosts(before: before, view: view, lastRenewal: lastRenewal, now: clock.now)
        let lostSlots = Set(view.lost)
        var lost: [(pid: Int32, slot: Int)] = []
        for (pid, lease) in held.sorted(by: { $0.key < $1.key }) where lostSlots.contains(lease.slot) {
            held[pid] = nil
            fenced.insert(pid)
            lost.append((pid, lease.slot))
        }
        return .renewed(joined: joined, gone: gone, lost: lost)
    }

    /// Why no worker may start now (nil: they may): only under leases Redis has just confirmed,
    /// and only while every live host runs our fleet-wide settings.
    func startsHeld() -> String? {
        if !leaseClock.mayStartWorkers(at: clock.now) {
            return "Redis has not confirmed our slot leases since the last renewal failed (fleet.renewal_failed): no worker starts until it does"
        }
        if !capsConflict.isEmpty {
            return "live hosts run other fleet-wide settings (fleet.caps_differ: \(capsConflict.keys.sorted().joined(separator: ",")))"
        }
        return nil
    }

    /// Whether a new worker may start now.
    func mayStartWorkers() -> Bool { startsHeld() == nil }

    /// Takes leases for the spawns a plan asks for, queue by queue (in `order`); returns the
    /// spawns granted. Each queue granted fewer than planned gets a line saying how many and why.
    func acquire(_ queues: [String], order: [String]) -> [(queue: String, slot: Int)] {
        if let why = startsHeld() {
            for q in order where queues.contains(q) {
                logger.info("fleet.waiting_for_slot", metadata: ["queue": "\(q)", "wanted": "\(queues.filter { $0 == q }.count)", "granted": "0", "why": "\(why)"])
            }
            return []
        }
        var granted: [(String, Int)] = []
        var counts: [String: Int] = [:]
        for q in queues { counts[q, default: 0] += 1 }
        let fleet = membership
        for q in order {
            guard let n = counts[q] else { continue }
            let grant = try? link.perform { c throws(RedisError) in try fleet.grant(c, queue: q, count: n) }
            let slots = grant?.slots ?? []
            for s in slots {
                granted.append((q, s))
                view.count(fleet.lease(q), 1)
            }
            // Leases to keep from now on: renewed every lease period, not the idle one.
            if !slots.isEmpty { nextRenewal = min(nextRenewal, clock.now + leaseClock.renewalPeriod) }
            if slots.count < n {
                let why = grant.map { $0.shortfall.why(maxTotal: fleet.policy.maxTotal, maxPerQueue: fleet.policy.maxPerQueue, until: Self.wallClock(in:)) }
                logger.info("fleet.waiting_for_slot", metadata: ["queue": "\(q)", "wanted": "\(n)", "granted": "\(slots.count)",
                                                                 "why": "\(why ?? "Redis did not answer"); retried next poll"])
            }
        }
        return granted
    }

    /// A worker started under a lease: the lease is its from now on, and the watchdog may fence it.
    func started(_ pid: Int32, slot: Int, queue: String, process: OwnedProcess?) {
        held[pid] = (slot, queue)
        if let process { watchdog.track(process, handler: nil) }
    }

    /// The worker's handler pid became known (its process group is killed with it by the fence).
    func track(_ process: OwnedProcess, handler: Int32?) { watchdog.track(process, handler: handler) }

    /// Gives a lease back (a launch failed); left to expire if Redis does not answer.
    func release(slot: Int, queue: String) {
        let fleet = membership
        _ = try? link.perform { c throws(RedisError) in try fleet.release(c, [(slot, queue)]) }
        view.count(fleet.lease(queue), -1)
    }

    /// A worker exited: the fence forgets it and its lease is given back. True when it was
    /// fenced (killed by the watchdog, the fence or for a lost lease), not crashed.
    @discardableResult
    func exited(_ pid: Int32) -> Bool {
        watchdog.forget(worker: pid)
        if let lease = held.removeValue(forKey: pid) { release(slot: lease.slot, queue: lease.queue) }
        return fenced.remove(pid) != nil
    }

    /// Workers being killed by the fence: their exits are logged as fenced.
    func fencing(_ pids: [Int32]) { fenced.formUnion(pids) }

    /// Checked on every loop pass: once each time the watchdog has killed the workers (the
    /// lease deadline passed without a renewal), the pids it killed.
    func watchdogFired() -> [Int32]? {
        let firings = watchdog.firings
        guard firings.count != fencesSeen else { return nil }
        fencesSeen = firings.count
        fenced.formUnion(firings.lastKilled)
        return firings.lastKilled
    }

    static func wallClock(in d: Duration) -> String {
        WallClock.iso8601(milliseconds: WallClock.nowMilliseconds() + Int64(d.milliseconds))
    }

    /// At the end of a drain: give back what is left, leave the fleet, stop the watchdog.
    func leave() {
        let fleet = membership
        let leases = heldLeases
        _ = try? link.perform { c throws(RedisError) in
            try fleet.release(c, leases)
            try fleet.leave(c)
        }
        watchdog.stop()
    }
}
