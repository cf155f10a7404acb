import CShims
import Foundation
import Logging

/// Cleans up what dead workers leave behind: processes re-parented to us (handlers, browsers)
/// and processing lists whose owner is gone. It owns its timers; the Supervisor passes in the
/// pids and worker ids it knows alive and gets back counts and the keys the server refused.
final class OrphanSweeper {
    let pid: pid_t
    /// We are the subreaper of our workers' descendants (set at start).
    let isSubreaper: Bool
    let logger: Logger
    var recoveryTimer = Every(Heartbeat.recoveryPeriod)
    /// `link.outagesEnded` when last looked at (the recovery waits a period after each outage).
    private var outagesSeen = 0

    init(pid: pid_t, isSubreaper: Bool = rpa_is_child_subreaper() == 1, logger: Logger) {
        self.pid = pid
        self.isSubreaper = isSubreaper
        self.logger = logger
    }

    /// When we are the subreaper, a worker's handler and browser processes are re-parented to us
    /// when it dies instead of init, and so is any of their children whose parent dies later. Any
    /// child that is not in `known` (our workers, our helpers) is such an orphan: kill it with its
    /// whole tree (whatever session or group a browser moved to; a hung, stopped browser
    /// included) and reap it by pid (never waitpid(-1), which would steal Foundation's statuses).
    /// Repeats while a pass finds anything, so the grandchildren re-parented by the kills are
    /// reaped too. Returns how many processes were killed.
    @discardableResult
    func killAdopted(known: (pid_t) -> Bool) -> Int {
        // Only a subreaper's non-worker children are orphans (a test process driving a
        // Supervisor has children of its own).
        guard isSubreaper else { return 0 }
        var killed = 0
        var pids: [pid_t] = []
        for pass in 0..<25 {
            var found = false
            for child in ProcessTree.children(of: pid) where !known(child) {
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
            logger.warning("orphans.killed", metadata: ["count": "\(pids.count)", "pids": "\(pids)", "processes": "\(killed) (with their descendants)",
                                                        "why": "handler or browser processes left by a worker that died"])
        }
        return killed
    }

    /// Every `Heartbeat.recoveryPeriod`: true when abandoned processing lists are to be requeued.
    /// After an outage, other hosts' and standalone workers' heartbeats may have expired while
    /// they lived: one full period passes first, so they have written them again.
    func recoveryDue(now: ContinuousClock.Instant, outagesEnded: Int) -> Bool {
        if outagesEnded != outagesSeen {
            outagesSeen = outagesEnded
            recoveryTimer.restart(at: now)
        }
        return recoveryTimer.isDue(now)
    }

    /// Requeues processing lists whose owner's heartbeat expired, never those of a worker known
    /// alive (`mayRecover`): our own live workers (`ours`, from the worker table: a Redis outage
    /// longer than the heartbeat TTL lets their heartbeats expire while they run) and the
    /// workers of another live host of the fleet (`otherHosts`: that host's orchestrator requeues
    /// them when they exit, and fences them before its membership expires). Returns the lists the
    /// server refused to move (a key of the wrong type) in `faults`: the jobs stay in that list,
    /// retried every recovery period.
    func recoverAbandoned(queues: [String], prefix: String, link: RedisLink, sparing ours: Set<String>, otherHosts: Set<String>,
                          reason: String, now: ContinuousClock.Instant, faults: inout KeyFaults) {
        recoveryTimer.restart(at: now)
        for queue in queues {
            let keys = QueueKeys(prefix: prefix, queue: queue)
            let q = RedisJobQueue(redis: link.connection, keys: keys, workerID: "orchestrator")
            var refused: [(String, RedisError)] = []
            let moved = try? link.perform { _ throws(RedisError) in
                let owners = try q.processingLists().map { String($0.dropFirst(keys.processingPrefix.count)) }
                let spared = Set(owners.filter { !Self.mayRecover(owner: $0, queue: queue, ours: ours, otherHosts: otherHosts) })
                return try q.recoverAbandoned(sparing: spared) { refused.append(($0, $1)) }
            }
            for (list, error) in refused {
                faults.failed(error.wrongTypeKey ?? list, error: "\(error)", skipped: "abandoned jobs left in \(list); retried every 15 s", logger: logger)
            }
            if let moved, moved > 0 {
                logger.warning("\(LogEvents.jobRecovered)", metadata: ["queue": "\(queue)", "jobs": "\(moved)", "why": "\(reason)"])
            }
        }
    }

    /// Whether recovery may take the processing list of `owner` (a worker id,
    /// `<queue>-<slot>-<host id>-<pid>`) once its heartbeat expired: not when it is one of our
    /// live workers, nor a worker of another live host of the fleet.
    static func mayRecover(owner: String, queue: String, ours: Set<String>, otherHosts: Set<String>) -> Bool {
        if ours.contains(owner) { return false }
        guard let host = host(ofWorker: owner, queue: queue) else { return true }
        return !otherHosts.contains(host)
    }

    /// The host id inside a worker id `<queue>-<slot>-<host id>-<pid>` (nil: not of that shape).
    static func host(ofWorker id: String, queue: String) -> String? {
        guard id.hasPrefix(queue + "-") else { return nil }
        let rest = id.dropFirst(queue.count + 1)
        guard let slotEnd = rest.firstIndex(of: "-"), let pidStart = rest.lastIndex(of: "-"), slotEnd < pidStart,
              rest[..<slotEnd].allSatisfy(\.isNumber), !rest[..<slotEnd].isEmpty,
              rest[rest.index(after: pidStart)...].allSatisfy(\.isNumber), rest.index(after: pidStart) < rest.endIndex else { return nil }
        let host = rest[rest.index(after: slotEnd)..<pidStart]
        return host.isEmpty ? nil : String(host)
    }
}
