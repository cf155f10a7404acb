import Foundation
import Logging

/// The Supervisor's side of `FleetLeases`: it passes its values in and acts on the decisions
/// (kills, events). The leases, the fleet view and the lease clock live in `FleetLeases`.
extension Supervisor {
    /// Renews our member record and leases (`FleetLeases.renew`) when due, and performs what it
    /// decided. False when Redis did not answer (or the last renewal failed and the next is not due).
    @discardableResult
    func renewFleet() -> Bool {
        // A host with jobs waiting renews every poll too: its share depends on the fleet as it is now.
        let wanting = jobsWaiting
        guard leases.isDue(workers: workers.count, wanting: wanting) else { return leases.lastRenewalSucceeded }
        switch leases.renew(info: memberInfo, workers: workers.count, wanting: wanting) {
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
                let job = worker.isBusy ? "it was busy at its last heartbeat: the job it holds goes back to the queue when it exits (job.recovered)"
                    : "it was idle at its last heartbeat: no job to requeue"
                logger.warning("fleet.lease_lost", metadata: ["worker": "\(worker.label)", "pid": "\(pid)", "slot": "\(slot)",
                                                              "action": "SIGKILL: another host holds this slot now", "job": "\(job)"])
                _ = workers[pid]?.lifecycle.killNow()
                killWorker(pid)
            }
            return true
        }
    }

    /// Jobs waiting in a queue of ours that is not paused (as last read).
    private var jobsWaiting: Bool { settings.queues.contains { state(of: $0).pending > 0 && !state(of: $0).isPaused } }

    /// This poll's read found jobs waiting at a host whose view of the fleet was read before the
    /// poll began (an idle host renews its membership only, every idle period): the fleet is read
    /// in full now, before the plan, so the host's share is planned on the hosts and leases as
    /// they are (five hosts each planning alone would start 11 workers for a target of 8).
    func readFleetBeforePlanning(pollStartedAt start: ContinuousClock.Instant) {
        guard jobsWaiting, leases.fleetReadAt.map({ $0 < start }) ?? true else { return }
        renewFleet()
    }

    /// Our member record, written by every renewal.
    private var memberInfo: MemberInfo {
        var info = MemberInfo()
        info.pid = Int(pid)
        info.machine = host
        info.capacity = hostCapacity
        info.updatedAt = WallClock.nowMilliseconds()
        info.state = isDraining ? "draining" : "running"
        info.workers = workers.count
        info.startedAt = startedAtMilliseconds
        info.queues = settings.queues
        for w in workers.values { info.workersPerQueue[w.queue, default: 0] += 1 }
        for q in settings.queues { if let n = queues[q]?.target.allotted, n > 0 { info.share[q] = n } }
        return info
    }

    /// Checked on every loop pass: logs when the watchdog has killed the workers (the lease
    /// deadline passed without a renewal).
    func checkLeases() {
        if let killed = leases.watchdogFired() { fence(reason: "lease deadline passed without a renewal Redis confirmed", killedByWatchdog: killed) }
    }

    /// Every worker SIGKILLed (the watchdog may have killed some already: `killedByWatchdog`,
    /// some of which may have exited since): our slots are no longer surely ours. The line counts
    /// every worker killed, and their exits say `fenced`.
    func fence(reason: String, killedByWatchdog: [Int32] = []) {
        let pids = Set(killedByWatchdog).union(workers.keys).sorted()
        guard !pids.isEmpty else { return }
        leases.fencing(pids)
        logger.error("fleet.fenced", metadata: ["workers": "\(pids.count)", "pids": "\(pids)", "why": "\(reason)",
                                                "note": "SIGKILLed with their handlers; the jobs they held go back to the queue as each exit is handled (job.recovered)"])
        events.record("fenced", [("workers", "\(pids.count)"), ("why", reason)])
        for pid in workers.keys.sorted() {
            _ = workers[pid]?.lifecycle.killNow()
            killWorker(pid)
        }
    }
}
