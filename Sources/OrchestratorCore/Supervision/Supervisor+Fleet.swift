import Foundation
import Logging

extension Supervisor {
    /// The slot leases our workers hold.
    var heldLeases: [(slot: Int, queue: String)] {
        workers.values.compactMap { w in w.lease.map { (slot: $0, queue: w.queue) } }.sorted { $0.slot < $1.slot }
    }

    /// Whether this host writes the fleet-wide records (instance hash, history, alerts).
    var isFleetLeader: Bool { fleetView.leader.map { $0 == fleet.hostID } ?? true }

    /// Renews our host hash and leases and reads the fleet (one script). On success the lease
    /// deadline moves forward; leases found lost are given up by killing their workers at once
    /// (another host may hold the slot now). On failure no worker starts until a renewal succeeds
    /// (one line when that begins, one when it ends), the running ones keep running (the watchdog
    /// fences them only at `killAt`), and the renewal is retried every `RedisLink.maxBackoff`.
    /// False when Redis did not answer.
    @discardableResult
    func renewFleet() -> Bool {
        let sentAt = clock.now
        // Draining workers keep their slots until they exit; a slow poll must not let leases lapse.
        nextRenewal = sentAt + leaseClock.renewalPeriod
        let leases = heldLeases
        let fields = hostFields
        let result = try? link.perform { c throws(RedisError) -> FleetMembership.TickResult? in
            FleetMembership.parseTick(try fleet.tick(c, leases: leases, fields: fields))
        }
        guard let tick = result.flatMap({ $0 }) else {
            renewalFailed(sentAt: sentAt)
            return false
        }
        switch tick {
        case .taken(let other):
            logger.critical("fleet.host_id_taken", metadata: ["host_id": "\(fleet.hostID)", "other_instance": "\(other)",
                                                              "action": "killing our workers and exiting 73: another orchestrator runs under this --host-id"])
            hostIDTaken = true
            fence(reason: "host id taken")
            if !isDraining { beginDrain(signal: SIGTERM) }
            return true
        case .view(let view):
            for fault in view.repaired {  // replaced by the renewal: logged once per occurrence
                logger.error("\(LogEvents.keyError)", metadata: ["key": "\(fault.key)", "error": "\(fault.error)", "action": "replaced: fleet keys hold no job"])
            }
            if let since = leaseClock.renewed(sentAt: sentAt) {
                logger.info("fleet.renewal_resumed", metadata: ["unconfirmed_for": "\(formatDuration(sentAt - since))", "workers": "\(workers.count)",
                                                                "note": "our slot leases are confirmed again; workers may start"])
            }
            watchdog.setDeadline(leaseClock.killAt)
            absorb(view)
            return true
        }
    }

    /// The host hash's fields, written by every renewal.
    private var hostFields: [(String, String)] {
        var fields: [(String, String)] = [
            ("pid", "\(pid)"), ("machine", host), ("capacity", "\(hostCapacity)"), ("updated_at", "\(WallClock.nowMilliseconds())"),
            ("state", isDraining ? "draining" : "running"), ("workers", "\(workers.count)"), ("started_at", "\(startedAtMilliseconds)"),
        ]
        for q in settings.queues {
            fields.append(("workers:\(q)", "\(workers.values.filter { $0.queue == q }.count)"))
            fields.append(("share:\(q)", "\(queues[q]!.target.allotted)"))
        }
        return fields
    }

    /// A renewal failed: retried sooner, and the first failure of a run says what follows.
    private func renewalFailed(sentAt: ContinuousClock.Instant) {
        nextRenewal = max(sentAt + min(leaseClock.renewalPeriod, RedisLink.maxBackoff), link.nextAttemptAt ?? sentAt)
        guard leaseClock.renewalFailed(at: sentAt) else { return }
        let fenceIn = leaseClock.killAt.map { formatDuration(max(.zero, $0 - sentAt)) } ?? "never (no lease held)"
        logger.warning("fleet.renewal_failed", metadata: ["workers": "\(workers.count)", "fence_in": "\(fenceIn)",
                                                          "action": "starting no worker until Redis confirms our slot leases; the running ones keep running, and are SIGKILLed only if no renewal succeeds within fence_in (--lease-ttl - 1s after the last one)"])
    }

    private func absorb(_ view: FleetView) {
        let before = Set(fleetView.hosts.map(\.id))
        fleetView = view
        let after = Set(view.hosts.map(\.id))
        if view.rejoined && !before.isEmpty {
            logger.warning("fleet.rejoined", metadata: ["host_id": "\(fleet.hostID)", "why": "our membership had expired (cut off from Redis for longer than --lease-ttl)"])
        }
        for id in after.subtracting(before).sorted() where !before.isEmpty {
            logger.info("fleet.host_joined", metadata: ["host_id": "\(id)", "hosts": "\(after.count)"])
            events.record("host_joined", [("host_id", id)])
        }
        for id in before.subtracting(after).sorted() {
            logger.warning("fleet.host_gone", metadata: ["host_id": "\(id)", "hosts": "\(after.count)",
                                                         "note": "its leases expire within --lease-ttl; the other hosts take over its share"])
            events.record("host_gone", [("host_id", id)])
        }
        let lost = Set(view.lost)
        guard !lost.isEmpty else { return }
        for pid in Array(workers.keys) where workers[pid]!.lease.map(lost.contains) ?? false {
            logger.warning("fleet.lease_lost", metadata: ["worker": "\(workers[pid]!.label)", "pid": "\(pid)", "slot": "\(workers[pid]!.lease!)",
                                                          "action": "SIGKILL: another host may run in this slot now; its job is requeued"])
            workers[pid]!.lease = nil
            _ = workers[pid]!.lifecycle.killNow()
            killWorker(pid)
        }
    }

    /// The plan's view of the fleet.
    var fleetContext: FleetContext {
        var hosts = fleetView.splitHosts
        if !hosts.contains(where: { $0.id == fleet.hostID }) { hosts.append(FleetHost(id: fleet.hostID, capacity: hostCapacity)) }
        return FleetContext(me: fleet.hostID, hosts: hosts, capacity: hostCapacity, leasedPerQueue: fleetView.perQueue, leased: fleetView.leased)
    }

    /// Takes leases for the spawns a plan asks for, queue by queue; returns the spawns granted.
    func leaseSpawns(_ queues: [String]) -> [(queue: String, slot: Int)] {
        var granted: [(String, Int)] = []
        var counts: [String: Int] = [:]
        for q in queues { counts[q, default: 0] += 1 }
        for q in settings.queues {
            guard let n = counts[q] else { continue }
            let slots = (try? link.perform { c throws(RedisError) in try fleet.acquire(c, queue: q, count: n) }) ?? []
            for s in slots {
                granted.append((q, s))
                fleetView.take(slot: s, LeaseValue(host: fleet.hostID, instance: fleet.instance, queue: q))
            }
            if slots.count < n {
                logger.info("fleet.waiting_for_slot", metadata: ["queue": "\(q)", "wanted": "\(n)", "granted": "\(slots.count)",
                                                                 "note": "the fleet's caps are in use; retried next poll"])
            }
        }
        return granted
    }

    /// Gives a lease back (a worker exited); left to expire if Redis does not answer.
    func releaseLease(slot: Int, queue: String) {
        _ = try? link.perform { c throws(RedisError) in try fleet.release(c, [(slot, queue)]) }
        fleetView.take(slot: slot, nil)
    }

    /// Checked on every loop pass: logs when the watchdog has killed the workers (the lease
    /// deadline passed without a renewal).
    func checkLeases() {
        let fired = watchdog.firedCount
        if fired != fencesSeen {
            fencesSeen = fired
            fence(reason: "lease deadline passed")
        }
    }

    /// Every worker SIGKILLed (the watchdog may have done it already): our slots are no longer surely ours.
    func fence(reason: String) {
        guard !workers.isEmpty else { return }
        logger.error("fleet.fenced", metadata: ["workers": "\(workers.count)", "why": "\(reason)",
                                                "note": "their jobs are requeued by orphan recovery once their heartbeats expire"])
        events.record("fenced", [("workers", "\(workers.count)"), ("why", reason)])
        for pid in Array(workers.keys) {
            _ = workers[pid]!.lifecycle.killNow()
            killWorker(pid)
        }
    }

    /// At the end of a drain: give back what is left and leave the fleet.
    func leaveFleet() {
        _ = try? link.perform { c throws(RedisError) in
            try fleet.release(c, heldLeases)
            try fleet.leave(c)
        }
    }
}

extension FleetView {
    mutating func take(slot: Int, _ value: LeaseValue?) {
        guard slot >= 1 else { return }
        if slots.count < slot { slots += Array(repeating: nil, count: slot - slots.count) }
        slots[slot - 1] = value
    }
}
