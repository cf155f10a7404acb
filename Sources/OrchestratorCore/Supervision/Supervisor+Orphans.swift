import Foundation

/// The Supervisor's side of `OrphanSweeper`: it passes the pids and ids it knows alive.
extension Supervisor {
    /// Kills the processes re-parented to us that are neither workers nor helpers. Runs on every
    /// poll and after every worker exit. Returns how many processes were killed.
    @discardableResult
    func killAdoptedOrphans() -> Int {
        orphans.killAdopted { [workers, helpers] child in workers[child] != nil || helpers.contains(child) }
    }

    /// Every `Heartbeat.recoveryPeriod` (a full one after each outage): requeues abandoned processing lists.
    func recoverIfDue(now: ContinuousClock.Instant) {
        if orphans.recoveryDue(now: now, outagesEnded: link.outagesEnded) { recoverAbandoned(reason: "owner heartbeat expired") }
    }

    /// Requeues processing lists whose owner's heartbeat expired, never those of our own live workers.
    func recoverAbandoned(reason: String) {
        let refused = orphans.recoverAbandoned(queues: settings.queues, prefix: settings.job.prefix, link: link,
                                               sparing: Set(workers.values.map(\.id)),
                                               otherHosts: Set(leases.view.hosts.map(\.id)).subtracting([leases.hostID]), reason: reason, now: clock.now)
        for (key, list, error) in refused {  // the jobs stay in that list; retried every recovery period
            keyFaults.failed(key, error: "\(error)", skipped: "abandoned jobs left in \(list); retried every 15 s", logger: logger)
        }
    }
}
