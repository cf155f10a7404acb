import CShims
import Foundation

extension Supervisor {
    /// We are the subreaper of our workers' descendants (set at start): when a worker dies, its
    /// handler and browser processes are re-parented to us instead of init, and so is any of
    /// their children whose parent dies later. Any child that is not a worker is such an orphan:
    /// kill it with its whole tree (whatever session or group a browser moved to; a hung,
    /// stopped browser included) and reap it by pid (never waitpid(-1), which would steal
    /// Foundation's statuses). Runs on every poll and after every worker exit, and repeats
    /// while a pass finds anything, so the grandchildren re-parented by the kills are reaped too.
    /// Returns how many processes were killed.
    @discardableResult
    func killAdoptedOrphans() -> Int {
        // Only a subreaper's non-worker children are orphans (a test process driving a
        // Supervisor has children of its own).
        guard isSubreaper else { return 0 }
        var killed = 0
        var pids: [pid_t] = []
        for pass in 0..<25 {
            var found = false
            for child in ProcessTree.children(of: pid) where workers[child] == nil && !helpers.contains(child) {
                guard let entry = ProcessTree.entry(child) else { continue }
                found = true
                if !entry.isZombie {
                    if entry.pgrp > 1 && entry.pgrp != getpgrp() { Glibc.kill(-entry.pgrp, SIGKILL) }
                    killed += ProcessTree.killTree(child)
                    pids.append(child)
                }
                var status: Int32 = 0
                _ = waitpid(child, &status, WNOHANG)
            }
            if !found { break }
            if pass < 24 { usleep(20_000) }
        }
        if killed > 0 {
            logger.warning("orphans.killed", metadata: ["count": "\(killed)", "pids": "\(pids)",
                                                        "why": "handler or browser processes left by a worker that died"])
        }
        return killed
    }

    /// Every `Heartbeat.recoveryPeriod`: requeues abandoned processing lists. After an outage,
    /// other hosts' and standalone workers' heartbeats may have expired while they lived: one full
    /// period passes first, so they have written them again.
    func recoverIfDue(now: ContinuousClock.Instant) {
        if link.outagesEnded != outagesSeen {
            outagesSeen = link.outagesEnded
            recoveryTimer.restart(at: now)
        }
        if recoveryTimer.isDue(now) { recoverAbandoned(reason: "owner heartbeat expired") }
    }

    /// Requeues processing lists whose owner's heartbeat expired, never those of our own live
    /// workers (a Redis outage longer than the heartbeat TTL lets their heartbeats expire).
    func recoverAbandoned(reason: String) {
        recoveryTimer.restart(at: clock.now)
        let ours = Set(workers.values.map(\.id))
        for queue in settings.queues {
            let q = RedisJobQueue(redis: link.connection, keys: QueueKeys(prefix: settings.job.prefix, queue: queue), workerID: "orchestrator")
            var refused: [(String, RedisError)] = []
            let moved = try? link.perform { _ throws(RedisError) in try q.recoverAbandoned(sparing: ours) { refused.append(($0, $1)) } }
            for (list, error) in refused {  // the jobs stay in that list; retried every recovery period
                keyFaults.failed(error.wrongTypeKey ?? list, error: "\(error)", skipped: "abandoned jobs left in \(list); retried every 15 s", logger: logger)
            }
            if let moved, moved > 0 {
                logger.warning("\(LogEvents.jobRecovered)", metadata: ["queue": "\(queue)", "jobs": "\(moved)", "why": "\(reason)"])
            }
        }
    }
}
