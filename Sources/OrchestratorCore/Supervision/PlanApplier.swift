import Foundation
import Logging

/// Performs a plan on the worker table: keeps each queue's new target and timers, logs the
/// decisions (the seed's lines, rendered by the plan) and records them, TERMs the workers the
/// plan chose, and launches the workers it wants under slot leases of the fleet (only while
/// Redis confirms our leases: `FleetLeases.acquire` → `WorkerSpawner`). The Supervisor passes
/// its table in; the workers that started join it.
struct PlanApplier {
    let settings: OrchestratorSettings
    let logger: Logger
    let launcher: ProcessLauncher
    let spawner: WorkerSpawner
    let leases: FleetLeases
    private let clock = ContinuousClock()

    init(settings: OrchestratorSettings, logger: Logger, launcher: ProcessLauncher, spawner: WorkerSpawner, leases: FleetLeases) {
        (self.settings, self.logger, self.launcher, self.spawner, self.leases) = (settings, logger, launcher, spawner, leases)
    }

    /// Performs the plan; the workers that started join the table (`started`).
    func apply(_ plan: ReconcilePlan, queues: inout [String: SupervisedQueue], workers: inout [Int32: SupervisedWorker],
               events: inout EventLog, counters: inout MetricsPublisher) {
        take(plan, queues: &queues, events: &events)
        for case .terminate(let pid, _) in plan.actions where workers[pid]?.lifecycle.drainRequested(deadline: nil) == .sendTerminate {
            guard let worker = workers[pid] else { continue }
            logger.info("\(LogEvents.workerDraining)", metadata: ["worker": "\(worker.label)", "pid": "\(pid)", "busy": "\(worker.isBusy)"])
            launcher.signal(pid, SIGTERM)
        }
        guard !plan.spawns.isEmpty else { return }
        let now = clock.now
        let done = spawner.spawn(leases.acquire(plan.spawns, order: settings.queues), slotsInUse: Dictionary(grouping: workers.values, by: \.queue).mapValues { Set($0.map(\.slot)) },
                                 launcher: launcher, fence: leases.membership, now: now)
        for (queue, lease) in done.unused { leases.release(slot: lease, queue: queue) }
        for queue in done.failed { _ = queues[queue, default: SupervisedQueue()].backoff.crashed(at: now) }
        for (worker, lease) in done.started { started(worker, lease: lease, workers: &workers, events: &events, counters: &counters) }
    }

    /// A worker the spawner started joins the table.
    private func started(_ worker: SupervisedWorker, lease: Int, workers: inout [Int32: SupervisedWorker], events: inout EventLog,
                         counters: inout MetricsPublisher) {
        workers[worker.pid] = worker
        // A made-up pid (a fake launcher) has no handle: the watchdog can signal only our children.
        leases.started(worker.pid, slot: lease, queue: worker.queue, process: launcher.owned(worker.pid))
        counters.started(queue: worker.queue)
        events.record("worker_spawned", [("queue", worker.queue), ("slot", "\(worker.slot)"), ("pid", "\(worker.pid)")])
        logger.info("\(RebalanceLines.started(name: worker.name, pid: worker.pid, queue: worker.queue, total: workers.values.filter { $0.queue == worker.queue }.count))",
                    metadata: ["event": "\(LogEvents.workerSpawned)"])
    }

    /// Each queue's outcome (target, timers) into its state; each decision's line logged, and
    /// each change of scale recorded as an event.
    private func take(_ plan: ReconcilePlan, queues: inout [String: SupervisedQueue], events: inout EventLog) {
        for (queue, outcome) in plan.queues {
            queues[queue, default: SupervisedQueue()].take(outcome)
            if outcome.heldByBackoff {
                logger.debug("scale.backoff", metadata: ["queue": "\(queue)", "delay": "\(formatDuration((queues[queue] ?? SupervisedQueue()).backoff.currentDelay))"])
            }
        }
        for decision in plan.decisions {
            logger.info("\(decision.line)", metadata: ["event": "\(decision.event)"])
            guard decision.direction != .steady else { continue }
            let state = queues[decision.queue] ?? SupervisedQueue()
            events.record("scale", [("queue", decision.queue), ("direction", decision.direction.rawValue), ("pending", "\(state.pending)"),
                                    ("target", "\(state.target.allotted)"), ("line", decision.line)])
        }
    }
}
