import Foundation
import Logging

/// The Supervisor's side of `FleetLeases`, as functions of values: the member record every
/// renewal writes, whether our queues want a renewal every poll, and the lines of a lost lease
/// and of the fence. The leases, the fleet view and the lease clock live in `FleetLeases`; the
/// Supervisor performs the kills.
enum FleetReactions {
    /// Our member record, written by every renewal.
    static func memberInfo(settings: OrchestratorSettings, pid: Int32, machine: String, startedAt: Int64, isDraining: Bool,
                           workers: [SupervisedWorker], states: [String: SupervisedQueue]) -> MemberInfo {
        var info = MemberInfo()
        info.pid = Int(pid)
        info.machine = machine
        info.capacity = min(settings.fleet.hostMaxWorkers, settings.policy.maxTotal)
        info.updatedAt = WallClock.nowMilliseconds()
        info.state = isDraining ? "draining" : "running"
        info.workers = workers.count
        info.startedAt = startedAt
        info.queues = settings.queues
        for w in workers { info.workersPerQueue[w.queue, default: 0] += 1 }
        for q in settings.queues { if let n = states[q]?.target.allotted, n > 0 { info.share[q] = n } }
        return info
    }

    /// Jobs waiting in a queue of ours that is not paused (as last read): such a host renews every
    /// poll too, in full: its share depends on the fleet as it is now.
    static func wanting(_ queues: [String], states: [String: SupervisedQueue]) -> Bool {
        queues.contains { states[$0].map { $0.pending > 0 && !$0.isPaused } ?? false }  // a queue not read yet waits for nothing
    }

    /// The workers of lost slots still in the table: each logged (`fleet.lease_lost`) and its
    /// lifecycle told; returns the pids to SIGKILL.
    private static func lost(_ lost: [(pid: Int32, slot: Int)], workers: inout [Int32: SupervisedWorker], logger: Logger) -> [Int32] {
        var kill: [Int32] = []
        for (pid, slot) in lost {
            guard let worker = workers[pid] else { continue }
            logLeaseLost(worker, slot: slot, logger: logger)
            _ = workers[pid]?.lifecycle.killNow()
            kill.append(pid)
        }
        return kill
    }

    /// What a renewal asks of the Supervisor: whether Redis answered, the workers to SIGKILL,
    /// and whether to drain (our host id is another instance's).
    struct Outcome {
        var answered = true
        var kill: [Int32] = []
        var drain = false
    }

    /// Renews our member record and leases when due (`renew`). A host with jobs waiting renews
    /// every poll too (in full): its share depends on the fleet as it is now. When not due, only
    /// whether the last renewal succeeded.
    static func renewIfDue(_ leases: FleetLeases, settings: OrchestratorSettings, pid: Int32, machine: String, startedAt: Int64, isDraining: Bool,
                           workers: inout [Int32: SupervisedWorker], states: [String: SupervisedQueue], logger: Logger, events: inout EventLog) -> Outcome {
        let wants = wanting(settings.queues, states: states)
        guard leases.isDue(workers: workers.count, wanting: wants) else { return Outcome(answered: leases.lastRenewalSucceeded) }
        let info = memberInfo(settings: settings, pid: pid, machine: machine, startedAt: startedAt, isDraining: isDraining,
                              workers: Array(workers.values), states: states)
        return renew(leases, info: info, wanting: wants, workers: &workers, logger: logger, events: &events)
    }

    /// This poll's read found jobs waiting at a host whose view of the fleet was read before the
    /// poll began (an idle host renews its membership only, every idle period): the fleet is read
    /// in full now, before the plan, so the host's share is planned on the hosts and leases as
    /// they are (five hosts each planning alone would start 11 workers for a target of 8).
    static func readsBeforePlanning(_ leases: FleetLeases, queues: [String], states: [String: SupervisedQueue],
                                    pollStartedAt start: ContinuousClock.Instant) -> Bool {
        wanting(queues, states: states) && (leases.fleetReadAt.map { $0 < start } ?? true)
    }

    /// When the watchdog has killed the workers (the lease deadline passed without a renewal):
    /// the fence (`fence`); returns the workers of the table to SIGKILL.
    static func watchdogFence(_ leases: FleetLeases, workers: inout [Int32: SupervisedWorker], logger: Logger, events: inout EventLog) -> [Int32] {
        guard let killed = leases.watchdogFired() else { return [] }
        return fence(leases, reason: "lease deadline passed without a renewal Redis confirmed", killedByWatchdog: killed,
                     workers: &workers, logger: logger, events: &events)
    }

    /// Renews our member record and leases (`FleetLeases.renew`) and decides on the table passed
    /// in: the workers of lost slots, or, when our host id is taken, the fence. Events for hosts
    /// that joined or left.
    static func renew(_ leases: FleetLeases, info: MemberInfo, wanting: Bool, workers: inout [Int32: SupervisedWorker], logger: Logger,
                      events: inout EventLog) -> Outcome {
        switch leases.renew(info: info, workers: workers.count, wanting: wanting) {
        case .failed:
            return Outcome(answered: false)
        case .hostIDTaken:
            return Outcome(kill: fence(leases, reason: "host id taken", workers: &workers, logger: logger, events: &events), drain: true)
        case .renewed(let joined, let gone, let lost):
            for id in joined { events.record("host_joined", [("host_id", id)]) }
            for id in gone { events.record("host_gone", [("host_id", id)]) }
            return Outcome(kill: self.lost(lost, workers: &workers, logger: logger))
        }
    }

    /// The fence: every worker SIGKILLed (the watchdog may have killed some already:
    /// `killedByWatchdog`, some of which may have exited since): our slots are no longer surely
    /// ours. The line counts every worker killed, and their exits say `fenced`. Each worker's
    /// lifecycle is told; returns the workers of the table to SIGKILL, in pid order.
    static func fence(_ leases: FleetLeases, reason: String, killedByWatchdog: [Int32] = [], workers: inout [Int32: SupervisedWorker],
                      logger: Logger, events: inout EventLog) -> [Int32] {
        let pids = Set(killedByWatchdog).union(workers.keys).sorted()
        guard !pids.isEmpty else { return [] }
        leases.fencing(pids)
        logFence(pids: pids, reason: reason, logger: logger, events: &events)
        let kill = workers.keys.sorted()
        for pid in kill { _ = workers[pid]?.lifecycle.killNow() }
        return kill
    }

    /// The `fleet.lease_lost` line of a worker whose slot another host holds now (it is SIGKILLed).
    private static func logLeaseLost(_ worker: SupervisedWorker, slot: Int, logger: Logger) {
        let job = worker.isBusy ? "it was busy at its last heartbeat: the job it holds goes back to the queue when it exits (job.recovered)"
            : "it was idle at its last heartbeat: no job to requeue"
        logger.warning("fleet.lease_lost", metadata: ["worker": "\(worker.label)", "pid": "\(worker.pid)", "slot": "\(slot)",
                                                      "action": "SIGKILL: another host holds this slot now", "job": "\(job)"])
    }

    /// The `fleet.fenced` line and event: every worker (`pids`) SIGKILLed, our slots no longer surely ours.
    private static func logFence(pids: [Int32], reason: String, logger: Logger, events: inout EventLog) {
        logger.error("fleet.fenced", metadata: ["workers": "\(pids.count)", "pids": "\(pids)", "why": "\(reason)",
                                                "note": "SIGKILLed with their handlers; the jobs they held go back to the queue as each exit is handled (job.recovered)"])
        events.record("fenced", [("workers", "\(pids.count)"), ("why", reason)])
    }
}
