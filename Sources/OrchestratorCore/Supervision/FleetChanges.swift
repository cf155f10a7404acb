import Foundation
import Logging

/// What each renewal's view of the fleet changed, said once per change: hosts that joined or
/// left, a live host with other fleet-wide settings, slots still leased by an earlier instance of
/// our host id. Owns what it last said; `FleetLeases` passes every view in.
struct FleetChanges {
    let hostID: String
    let instance: String
    /// Our fleet-wide settings (`FleetMembership.caps`).
    let caps: String
    let ttl: Duration
    let logger: Logger
    /// Live hosts running other fleet-wide settings, as last logged.
    private(set) var capsConflict: [String: String] = [:]
    /// Slots still leased by an earlier instance of our host id, as last logged.
    private var previousInstanceSlots = 0
    /// Hosts missing from the view when Redis lost the fleet's keys (every record went with
    /// them): each is expected to rejoin within one TTL, so its absence is not logged as gone,
    /// nor its return as joined, unless that deadline passes.
    private var awaitingRejoin: Set<String> = []
    private var awaitingUntil: ContinuousClock.Instant?

    init(membership: FleetMembership, ttl: Duration, logger: Logger) {
        (hostID, instance, caps, self.ttl, self.logger) = (membership.hostID, membership.instance, membership.caps, ttl, logger)
    }

    /// Compares the hosts before and after a renewal; logs and returns who joined and who left.
    mutating func hosts(before: Set<String>, view: FleetView, lastRenewal: Duration?, now: ContinuousClock.Instant) -> (joined: [String], gone: [String]) {
        let after = Set(view.hosts.map(\.id))
        if view.rejoined && !before.isEmpty {
            let cause = RejoinCause.of(reset: view.reset, sinceLastRenewal: lastRenewal, ttl: ttl)
            logger.warning("fleet.rejoined", metadata: ["host_id": "\(hostID)", "why": "\(cause.why)"])
        }
        if view.reset && view.rejoined {  // the records were lost, not the hosts: they rejoin within a TTL
            awaitingRejoin.formUnion(before.subtracting(after).subtracting([hostID]))
            awaitingUntil = now + ttl
        }
        let returned = awaitingRejoin.intersection(after)
        awaitingRejoin.subtract(returned)
        var gone = before.subtracting(after).subtracting(awaitingRejoin)
        if let until = awaitingUntil, now >= until {  // not back within a TTL: gone after all
            gone.formUnion(awaitingRejoin.subtracting(after))
            awaitingRejoin = []
            awaitingUntil = nil
        }
        let joined = before.isEmpty ? [] : after.subtracting(before).subtracting(returned).sorted()
        for id in joined { logger.info("fleet.host_joined", metadata: ["host_id": "\(id)", "hosts": "\(after.count)"]) }
        for id in gone.sorted() {
            logger.warning("fleet.host_gone", metadata: ["host_id": "\(id)", "hosts": "\(after.count)",
                                                         "note": "its leases expire within --lease-ttl; the other hosts take over its share"])
        }
        checkCaps(view)
        checkPreviousInstance(view)
        return (joined, gone.sorted())
    }

    /// The caps check of every join, on every renewal: a live host with other fleet-wide
    /// settings (one that joined while we were away, or we rejoined among) is named once, and
    /// no worker starts here until the settings agree again.
    private mutating func checkCaps(_ view: FleetView) {
        let conflict = view.hostsWithOtherCaps(than: caps)
        guard conflict != capsConflict else { return }
        capsConflict = conflict
        if conflict.isEmpty {
            logger.info("fleet.caps_agree", metadata: ["note": "every live host runs our fleet-wide settings again; workers may start"])
            return
        }
        for (id, theirs) in conflict.sorted(by: { $0.key < $1.key }) {
            logger.critical("fleet.caps_differ", metadata: [
                "other_host": "\(id)", "theirs": "\(theirs)", "ours": "\(caps)",
                "action": "starting no new worker here while they differ (the running ones keep running); the fleet may run up to the larger --max-total meanwhile",
                "hint": "--max-total, --max-per-queue, --min-per-queue and --jobs-per-worker are fleet-wide: restart the hosts with the same values"])
        }
    }

    /// Slots leased under our host id by an earlier instance (killed without giving them back)
    /// block new workers until they expire: said once, with until when at the latest.
    private mutating func checkPreviousInstance(_ view: FleetView) {
        let stale = view.leasedByOtherInstances(of: hostID, than: instance)
        defer { previousInstanceSlots = stale }
        guard stale != previousInstanceSlots else { return }
        if stale == 0 {
            logger.info("fleet.previous_instance_gone", metadata: ["note": "the leases of this --host-id's earlier instance have expired; their slots are free"])
        } else if previousInstanceSlots == 0 {
            let until = WallClock.iso8601(milliseconds: WallClock.nowMilliseconds() + Int64(ttl.milliseconds))
            logger.warning("fleet.waiting_for_previous_instance", metadata: [
                "slots": "\(stale)", "until": "\(until) at the latest (--lease-ttl \(formatDuration(ttl)))",
                "why": "an earlier orchestrator with this --host-id stopped without giving its slot leases back (killed?); its workers may still be finishing their jobs, so those slots stay taken until the leases expire"])
        }
    }
}
