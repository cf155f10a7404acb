import Foundation
import Logging

/// The Supervisor's side of `FleetLeases`: it passes its values in and acts on the decisions
/// (kills, events). The leases, the fleet view and the lease clock live in `FleetLeases`.
extension Supervisor {
    /// Renews our host hash and leases (`FleetLeases.renew`) and performs what it decided.
    /// False when Redis did not answer.
    @discardableResult
    func renewFleet() -> Bool {
        switch leases.renew(fields: hostFields, workers: workers.count) {
        case .failed:
            return false
        case .hostIDTaken:
            fence(reason: "host id taken")
            if !isDraining { beginDrain(signal: SIGTERM) }
            return true
        case .renewed(let joined, let gone, let lost):
            for id in joined { events.record("host_joined", [("host_id", id)]) }
            for id in gone { events.record("host_gone", [("host_id", id)]) }
            for (pid, slot) in lost {
                guard let worker = workers[pid] else { continue }
                logger.warning("fleet.lease_lost", metadata: ["worker": "\(worker.label)", "pid": "\(pid)", "slot": "\(slot)",
                                                              "action": "SIGKILL: another host may run in this slot now; its job is requeued"])
                _ = workers[pid]?.lifecycle.killNow()
                killWorker(pid)
            }
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
            fields.append(("share:\(q)", "\(queues[q]?.target.allotted ?? 0)"))
        }
        return fields
    }

    /// Checked on every loop pass: logs when the watchdog has killed the workers (the lease
    /// deadline passed without a renewal).
    func checkLeases() {
        if leases.watchdogFired() { fence(reason: "lease deadline passed") }
    }

    /// Every worker SIGKILLed (the watchdog may have done it already): our slots are no longer surely ours.
    func fence(reason: String) {
        guard !workers.isEmpty else { return }
        logger.error("fleet.fenced", metadata: ["workers": "\(workers.count)", "why": "\(reason)",
                                                "note": "their jobs are requeued by orphan recovery once their heartbeats expire"])
        events.record("fenced", [("workers", "\(workers.count)"), ("why", reason)])
        for pid in workers.keys.sorted() {
            _ = workers[pid]?.lifecycle.killNow()
            killWorker(pid)
        }
    }
}
