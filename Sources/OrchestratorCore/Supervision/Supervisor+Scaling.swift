import Foundation
import Logging

extension Supervisor {
    /// One reconcile pass: read Redis, plan (`Reconcile`, pure), apply. On a Redis read error it
    /// holds (never scales down).
    func poll() {
        retryPendingRequeues()
        killAdoptedOrphans()  // a browser re-parented to us after the last sweep, and zombies
        let wasReadable: Bool? = redisStateKnown ? redisReadable : nil
        let renewed = renewFleet()
        redisReadable = renewed && readRedis()
        redisStateKnown = true
        if redisReadable != wasReadable, wasReadable != nil || !redisReadable { events.record(redisReadable ? "redis_up" : "redis_down", []) }
        if leases.isLeader { evaluateAlerts() }
        flushEvents()
        defer { publishMetrics() }
        guard redisReadable else { return }
        let now = clock.now
        let plan = reconcile.plan(queues: settings.queues.map { snapshot(of: $0) },
                                  workers: workers.values.filter { !$0.lifecycle.isExited }.map(\.snapshot), now: now, fleet: leases.context)
        apply(plan)
        if leases.isLeader { recordHistory() }
        writeInstanceHeartbeat()
        recoverIfDue(now: now)
    }

    func snapshot(of queue: String) -> QueueSnapshot {
        let s = state(of: queue)
        var snapshot = QueueSnapshot(name: queue, pending: s.pending, isPaused: s.isPaused, isReadable: s.unreadable == nil,
                                     backoffUntil: s.backoff.nextAllowed, lowerTargetSince: s.lowerTargetSince, lastSummary: s.lastSummary)
        snapshot.adaptive = s.need
        return snapshot
    }

    /// Performs a plan: its lines, its TERMs, its spawns, and keeps each queue's new timers.
    func apply(_ plan: ReconcilePlan) {
        for (queue, outcome) in plan.queues {
            var state = self.state(of: queue)
            state.target = outcome.target
            state.lowerTargetSince = outcome.lowerTargetSince
            state.lastSummary = outcome.lastSummary
            state.fleetTarget = outcome.fleetTarget
            queues[queue] = state
            if outcome.heldByBackoff {
                logger.debug("scale.backoff", metadata: ["queue": "\(queue)", "delay": "\(formatDuration(state.backoff.currentDelay))"])
            }
        }
        for decision in plan.decisions {
            let line = decision.line
            logger.info("\(line)", metadata: ["event": "\(decision.event)"])
            guard decision.direction != .steady else { continue }
            let queue = decision.queue
            events.record("scale", [("queue", queue), ("direction", decision.direction.rawValue),
                                    ("pending", "\(queues[queue]?.pending ?? 0)"), ("target", "\(queues[queue]?.target.allotted ?? 0)"), ("line", line)])
        }
        for action in plan.actions {
            if case .terminate(let pid, _) = action {
                guard workers[pid]?.lifecycle.drainRequested(deadline: nil) == .sendTerminate, let worker = workers[pid] else { continue }
                logger.info("\(LogEvents.workerDraining)", metadata: ["worker": "\(worker.label)", "pid": "\(pid)",
                                                                      "busy": "\(worker.isBusy)"])
                launcher.signal(pid, SIGTERM)
            }
        }
        // A worker starts only under a slot lease of the fleet, and only while Redis confirms our leases.
        guard !plan.spawns.isEmpty else { return }
        var failedLaunch: Set<String> = []
        for (queue, slot) in leases.acquire(plan.spawns, order: settings.queues) {
            if failedLaunch.contains(queue) || !spawn(queue, lease: slot) {
                failedLaunch.insert(queue)
                leases.release(slot: slot, queue: queue)
            }
        }
    }

    /// Starts one worker in the lowest free slot. Returns false when the launch failed.
    private func spawn(_ queue: String, lease: Int) -> Bool {
        let used = Set(workers.values.filter { $0.queue == queue }.map(\.slot))
        let slot = (1...).first { !used.contains($0) }!
        let spec = LaunchSpec(
            executable: settings.workerPath,
            arguments: ["--queue", queue, "--slot", "\(slot)"],
            environment: settings.workerEnvironment(base: baseEnvironment, queue: queue, orchestratorPID: pid),
            logPath: "\(settings.logDir)/worker-\(queue)-\(slot).log", stdinLine: settings.workerStdinLine)
        let now = clock.now
        do {
            let child = try launcher.launch(spec.fenced(by: leases.membership, slot: lease, queue: queue))
            let worker = Worker(pid: child, queue: queue, slot: slot,
                                id: QueueKeys.workerID(queue: queue, slot: slot, host: settings.fleet.hostID, pid: child), startedAt: now)
            workers[child] = worker
            // A made-up pid (a fake launcher) has no handle: the watchdog can signal only our children.
            leases.started(child, slot: lease, queue: queue, process: launcher.owned(child))
            workerStarts[queue, default: 0] += 1
            events.record("worker_spawned", [("queue", queue), ("slot", "\(slot)"), ("pid", "\(child)")])
            logger.info("\(RebalanceLines.started(name: worker.name, pid: child, queue: queue, total: workers.values.filter { $0.queue == queue }.count))",
                        metadata: ["event": "\(LogEvents.workerSpawned)"])
            return true
        } catch {
            logger.error("worker.launch_failed", metadata: ["queue": "\(queue)", "error": "\(error)"])
            _ = queues[queue, default: QueueState()].backoff.crashed(at: now)
            return false
        }
    }

    func doneTotal(_ q: String) -> Int { Int(lastReading.stats[q]?["done"] ?? "") ?? 0 }

    /// Feeds each queue's sample to the history; writes the finished minutes in one round trip.
    func recordHistory() {
        let readings = settings.queues.map { q in
            let mine = workers.values.filter { $0.queue == q }
                .map { HistoryRecorder.WorkerSample(isBusy: $0.isBusy, isDraining: $0.lifecycle.isDraining, pssBytes: $0.pssBytes) }
            let state = queues[q] ?? QueueState()
            return (queue: q, reading: HistoryRecorder.reading(pending: state.pending, retrying: lastReading.retrying[q] ?? 0,
                                                               target: state.target.allotted, workers: mine, stats: lastReading.stats[q] ?? [:]))
        }
        let commands = history.record(readings, wallMilliseconds: WallClock.nowMilliseconds())
        if !commands.isEmpty { pipelineReporting(commands, skipped: "history sample not written") }
    }
}
