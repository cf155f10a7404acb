import Foundation
import Logging

/// This orchestrator's part in the fleet: its membership (renewed with the host hash), the slot
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
    /// Leases are renewed at least this often, whatever the poll interval (every poll renews too).
    var nextRenewal: ContinuousClock.Instant
    /// Worker pid → the slot lease it runs under.
    private var held: [Int32: (slot: Int, queue: String)] = [:]

    init(membership: FleetMembership, capacity: Int, link: RedisLink, logger: Logger) {
        self.membership = membership
        self.capacity = capacity
        self.link = link
        self.logger = logger
        self.leaseClock = LeaseClock(ttl: membership.settings.leaseTTL)
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

    /// Renews our host hash and leases and reads the fleet (one script). On success the lease
    /// deadline moves forward; leases found lost are returned (their workers must be killed at
    /// once). On failure no worker starts until a renewal succeeds (one line when that begins,
    /// one when it ends), the running ones keep running (the watchdog fences them only at
    /// `killAt`), and the renewal is retried every `RedisLink.maxBackoff`.
    func renew(fields: [(String, String)], workers: Int) -> Renewal {
        let sentAt = clock.now
        // Draining workers keep their slots until they exit; a slow poll must not let leases lapse.
        nextRenewal = sentAt + leaseClock.renewalPeriod
        let leases = heldLeases
        let fleet = membership
        let result = try? link.perform { c throws(RedisError) -> FleetMembership.TickResult? in
            FleetMembership.parseTick(try fleet.tick(c, leases: leases, fields: fields))
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
            if let since = leaseClock.renewed(sentAt: sentAt) {
                logger.info("fleet.renewal_resumed", metadata: ["unconfirmed_for": "\(formatDuration(sentAt - since))", "workers": "\(workers)",
                                                                "note": "our slot leases are confirmed again; workers may start"])
            }
            watchdog.setDeadline(leaseClock.killAt)
            return absorb(view)
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

    private func absorb(_ view: FleetView) -> Renewal {
        let before = Set(self.view.hosts.map(\.id))
        self.view = view
        let after = Set(view.hosts.map(\.id))
        if view.rejoined && !before.isEmpty {
            logger.warning("fleet.rejoined", metadata: ["host_id": "\(hostID)", "why": "our membership had expired (cut off from Redis for longer than --lease-ttl)"])
        }
        let joined = before.isEmpty ? [] : after.subtracting(before).sorted()
        for id in joined {
            logger.info("fleet.host_joined", metadata: ["host_id": "\(id)", "hosts": "\(after.count)"])
        }
        let gone = before.subtracting(after).sorted()
        for id in gone {
            logger.warning("fleet.host_gone", metadata: ["host_id": "\(id)", "hosts": "\(after.count)",
                                                         "note": "its leases expire within --lease-ttl; the other hosts take over its share"])
        }
        let lostSlots = Set(view.lost)
        var lost: [(pid: Int32, slot: Int)] = []
        for (pid, lease) in held.sorted(by: { $0.key < $1.key }) where lostSlots.contains(lease.slot) {
            held[pid] = nil
            lost.append((pid, lease.slot))
        }
        return .renewed(joined: joined, gone: gone, lost: lost)
    }

    /// Whether a new worker may start now: only under leases Redis has just confirmed.
    func mayStartWorkers() -> Bool { leaseClock.mayStartWorkers(at: clock.now) }

    /// Takes leases for the spawns a plan asks for, queue by queue (in `order`); returns the spawns granted.
    func acquire(_ queues: [String], order: [String]) -> [(queue: String, slot: Int)] {
        var granted: [(String, Int)] = []
        var counts: [String: Int] = [:]
        for q in queues { counts[q, default: 0] += 1 }
        let fleet = membership
        for q in order {
            guard let n = counts[q] else { continue }
            let slots = (try? link.perform { c throws(RedisError) in try fleet.acquire(c, queue: q, count: n) }) ?? []
            for s in slots {
                granted.append((q, s))
                view.take(slot: s, LeaseValue(host: hostID, instance: fleet.instance, queue: q))
            }
            if slots.count < n {
                logger.info("fleet.waiting_for_slot", metadata: ["queue": "\(q)", "wanted": "\(n)", "granted": "\(slots.count)",
                                                                 "note": "the fleet's caps are in use; retried next poll"])
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
        view.take(slot: slot, nil)
    }

    /// A worker exited: the fence forgets it and its lease is given back.
    func exited(_ pid: Int32) {
        watchdog.forget(worker: pid)
        guard let lease = held.removeValue(forKey: pid) else { return }
        release(slot: lease.slot, queue: lease.queue)
    }

    /// A worker is being killed: it gives up its lease now (the slot is given back when it exits).
    func givenUp(_ pid: Int32) { held[pid] = nil }

    /// Checked on every loop pass: true once each time the watchdog has killed the workers (the
    /// lease deadline passed without a renewal).
    func watchdogFired() -> Bool {
        let fired = watchdog.firedCount
        guard fired != fencesSeen else { return false }
        fencesSeen = fired
        return true
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

extension FleetView {
    mutating func take(slot: Int, _ value: LeaseValue?) {
        guard slot >= 1 else { return }
        if slots.count < slot { slots += Array(repeating: nil, count: slot - slots.count) }
        slots[slot - 1] = value
    }
}
