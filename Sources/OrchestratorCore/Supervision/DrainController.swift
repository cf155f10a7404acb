import Foundation
import Logging

/// The operator's drain (SIGTERM, SIGINT): whether we drain, its deadline, its periodic work
/// and its lines. It owns the drain's state; the Supervisor passes its worker table in (each
/// worker's lifecycle records the request) and sends the signals the controller returns.
struct DrainController {
    let timeout: Duration
    let logger: Logger
    private(set) var isDraining = false
    /// This drain: workers SIGKILLed.
    var killed = 0
    /// While draining, the instance record, events, metrics and the orphan sweep go on this often.
    private var periodicTimer = Every(Heartbeat.refresh)

    init(timeout: Duration, logger: Logger) {
        (self.timeout, self.logger) = (timeout, logger)
    }

    /// Begins the drain: every worker is asked to finish its job before the deadline. Returns
    /// the workers to SIGTERM, in pid order.
    mutating func begin(signal sig: Int32, workers: inout [Int32: SupervisedWorker], now: ContinuousClock.Instant) -> [Int32] {
        isDraining = true
        let deadline = now + timeout
        logger.info("\(LogEvents.drainBegin)", metadata: ["signal": "\(signalName(sig))", "workers": "\(workers.count)",
                                                          "deadline": "\(formatDuration(timeout))"])
        var terminate: [Int32] = []
        for pid in workers.keys.sorted() where workers[pid]?.lifecycle.drainRequested(deadline: deadline) == .sendTerminate { terminate.append(pid) }
        return terminate
    }

    /// A second signal while draining: the workers to SIGKILL now (their jobs are requeued).
    func killNow(signal sig: Int32, workers: inout [Int32: SupervisedWorker]) -> [Int32] {
        logger.warning("\(LogEvents.drainBegin)", metadata: ["signal": "\(signalName(sig))", "mode": "now: SIGKILL and requeue"])
        var kill: [Int32] = []
        for pid in Array(workers.keys) where workers[pid]?.lifecycle.killNow() == .sendKill { kill.append(pid) }
        return kill
    }

    /// Whether the drain's periodic work is due (`status` keeps showing us, state draining).
    mutating func periodicDue(_ now: ContinuousClock.Instant) -> Bool { periodicTimer.isDue(now) }

    /// The workers past the drain's deadline, to SIGKILL (each logged).
    func expired(workers: inout [Int32: SupervisedWorker], now: ContinuousClock.Instant) -> [Int32] {
        var kill: [Int32] = []
        for pid in Array(workers.keys) where workers[pid]?.lifecycle.tick(now: now) == .sendKill {
            logger.warning("\(LogEvents.workerKilled)", metadata: ["worker": "\(workers[pid]?.label ?? "")", "pid": "\(pid)", "why": "drain timeout passed"])
            kill.append(pid)
        }
        return kill
    }

    /// The drain's end, once every worker exited and its jobs went back: no orchestrator, no
    /// active alerts (the last host of the fleet, when it leads, removes the instance record and
    /// the alerts, so `status` and `orchestrator alerts` stop showing them); we leave the fleet;
    /// the last line. Returns the exit code.
    func finish(leases: FleetLeases, link: RedisLink, prefix: String, requeued: [String]) -> Int32 {
        if leases.isLeader && !leases.hasOtherHosts {
            _ = try? link.perform { c throws(RedisError) in
                try c.pipeline([["DEL", RedisArg(QueueKeys.instance(prefix: prefix))], ["DEL", RedisArg(QueueKeys.alerts(prefix: prefix))]])
            }
        }
        leases.leave()
        let code = leases.hostIDTaken ? ExitCodes.alreadyRunning : ExitCodes.ok
        logger.info("\(LogEvents.drainDone)", metadata: ["exit": "\(code)", "killed": "\(killed)",
                                                         "requeued": "\(requeued.isEmpty ? "none" : requeued.joined(separator: ","))"])
        return code
    }
}
