import Foundation
import Logging

/// One worker process of the Supervisor's table.
struct SupervisedWorker {
    let pid: Int32
    let queue: String
    let slot: Int
    let id: String
    let startedAt: ContinuousClock.Instant
    var lifecycle = WorkerLifecycle()
    var isBusy = false
    var handlerPID: Int32?
    /// From its heartbeat: when its current job started (wall-clock ms), and its tree's PSS.
    var jobStartedAt: Int64?
    var pssBytes = 0
    /// SIGKILLed by the operator's drain (deadline passed, or a second TERM): its job was
    /// stopped, not failed, so it is requeued without counting the attempt.
    var killedByDrain = false
    /// The seed's name, in the `Worker '…' iniciado` lines.
    var name: String { "worker-\(queue)-\(slot)" }
    /// The name in metadata, the same the worker's own log lines carry (`worker=q-1`).
    var label: String { "\(queue)-\(slot)" }
    var metricValues: MetricsPublisher.WorkerValues {
        .init(queue: queue, slot: slot, isBusy: isBusy, isDraining: lifecycle.isDraining, isStarting: lifecycle.state == .launching,
              jobStartedAt: jobStartedAt, pssBytes: pssBytes)
    }
    var snapshot: WorkerSnapshot {
        WorkerSnapshot(pid: pid, queue: queue, isBusy: isBusy, isDraining: lifecycle.isDraining, startedAt: startedAt)
    }
}

/// One watched queue's state in the Supervisor.
struct SupervisedQueue {
    var pending = 0
    var lowerTargetSince: ContinuousClock.Instant?
    var backoff = CrashBackoff()
    var lastSummary: ContinuousClock.Instant?
    var lastCrashLoopAlert: ContinuousClock.Instant?
    var target = QueueTarget(demand: 0, allotted: 0)
    /// Set while the queue key cannot be read (e.g. WRONGTYPE): its workers are held as they are.
    var unreadable: String?
    /// `orchestrator pause`: target 0 at once; jobs wait.
    var isPaused = false
    /// `--scaling adaptive`: measured rates, since when the current backlog exists, and the need.
    var rates = QueueRates()
    var backlogSince: ContinuousClock.Instant?
    var need: AdaptivePolicy.Need?
    /// In a fleet: the queue's target over all hosts.
    var fleetTarget: Int?
}

extension SupervisedWorker {
    /// How a fenced worker ended: SIGKILLed by the fence, or stopped by itself first (exit 77:
    /// its own take found its slot lease gone before the SIGKILL arrived).
    static func fencedKind(_ status: TerminationStatus) -> String {
        status == .exited(ExitCodes.leaseLost) ? "fenced (it had stopped by itself first: exit 77, its slot lease lost)" : "fenced (SIGKILLed by the lease fence)"
    }

    /// The seed's `Worker '…' encerrado` line of its exit, at the level its kind deserves.
    func logExit(_ kind: WorkerLifecycle.ExitKind, status: TerminationStatus, fenced: Bool, total: Int, logger: Logger) {
        let line = RebalanceLines.stopped(name: name, pid: pid, status: "\(status)", queue: queue, total: total)
        switch kind {
        case .crashed, .killed:
            // Its handler, if any, was re-parented to us: the Supervisor's orphan sweep ends it.
            logger.error("\(line)", metadata: ["event": "\(LogEvents.workerExited)", "kind": "\(fenced ? Self.fencedKind(status) : "\(kind)")"])
        case .leaseLost:
            logger.warning("\(line)", metadata: ["event": "\(LogEvents.workerExited)", "kind": "lease lost (exit 77: it took no job without its slot lease)"])
        default:
            logger.info("\(line)", metadata: ["event": "\(LogEvents.workerExited)"])
        }
    }

    /// The `worker.crashloop` line: its queue's crashes in the last minute, the restart delay, and where its log is.
    func logCrashLoop(crashes: Int, delay: Duration, logDir: String, logger: Logger) {
        logger.critical("\(LogEvents.crashLoop)", metadata: ["queue": "\(queue)", "crashes_last_minute": "\(crashes)",
                                                             "restart_delay": "\(formatDuration(delay))",
                                                             "hint": "see \(shellQuoted("\(logDir)/\(name).log"))"])
    }

    /// Its queue's bookkeeping of the exit (`SupervisedQueue.workerExited`: the restart backoff)
    /// and, when the queue is in a crash loop, the `worker.crashloop` line.
    func exited(_ kind: WorkerLifecycle.ExitKind, queues: inout [String: SupervisedQueue], isDraining: Bool, now: ContinuousClock.Instant,
                logDir: String, logger: Logger) {
        var state = queues[queue] ?? SupervisedQueue()
        if let crashes = state.workerExited(kind, ranFor: now - startedAt, isDraining: isDraining, now: now) {
            logCrashLoop(crashes: crashes, delay: state.backoff.currentDelay, logDir: logDir, logger: logger)
        }
        queues[queue] = state
    }

    /// The `worker_exited` event of its exit.
    func recordExit(_ kind: WorkerLifecycle.ExitKind, status: TerminationStatus, events: inout EventLog) {
        events.record("worker_exited", [("queue", queue), ("slot", "\(slot)"), ("pid", "\(pid)"), ("kind", kind.metricName),
                                        ("status", "\(status)"), ("pss_bytes", "\(pssBytes)")])
    }

    var historySample: HistoryRecorder.WorkerSample { .init(isBusy: isBusy, isDraining: lifecycle.isDraining, pssBytes: pssBytes) }
}

extension SupervisedQueue {
    /// After one of its workers exited: a crash (outside a drain) counts toward the restart
    /// backoff, and when the backoff says crash loop, returns how many crashes the last minute
    /// saw, at most once a minute (for `crash_loop`). A worker that ran 10 s or more, or left on
    /// purpose (recycled, drained), resets the backoff.
    mutating func workerExited(_ kind: WorkerLifecycle.ExitKind, ranFor: Duration, isDraining: Bool, now: ContinuousClock.Instant) -> Int? {
        if case .crashed = kind, !isDraining {
            guard backoff.crashed(at: now), lastCrashLoopAlert.map({ now - $0 >= .seconds(60) }) ?? true else { return nil }
            lastCrashLoopAlert = now
            return backoff.recent.filter { now - $0 < .seconds(60) }.count
        } else if ranFor >= .seconds(10) || kind == .recycled || kind == .drained {
            backoff.reset()
        }
        return nil
    }

    /// The queue as `/metrics` shows it, with what the last reading and the history say of it.
    func metricValues(_ queue: String, policy: ScalingPolicy, reading: PollReading,
                      jobsPerMinute: (one: Double?, five: Double?, fifteen: Double?)?) -> MetricsPublisher.QueueValues {
        .init(pending: pending, target: target.allotted, wanted: policy.rawNeed(pending: pending), retrying: reading.retrying[queue] ?? 0,
              dead: reading.deadNow[queue] ?? 0, isReadable: unreadable == nil, isPaused: isPaused, need: need, stats: reading.stats[queue] ?? [:],
              jobsPerMinute: jobsPerMinute)
    }

    /// The queue as the reconcile plan sees it.
    func snapshot(_ queue: String) -> QueueSnapshot {
        var snapshot = QueueSnapshot(name: queue, pending: pending, isPaused: isPaused, isReadable: unreadable == nil,
                                     backoffUntil: backoff.nextAllowed, lowerTargetSince: lowerTargetSince, lastSummary: lastSummary)
        snapshot.adaptive = need
        return snapshot
    }

    /// Keeps what the plan decided for the queue: its target and timers.
    mutating func take(_ outcome: ReconcilePlan.QueueOutcome) {
        target = outcome.target
        lowerTargetSince = outcome.lowerTargetSince
        lastSummary = outcome.lastSummary
        fleetTarget = outcome.fleetTarget
    }
}

/// Taking a poll's reading (the Supervisor calls these for each queue and worker of its table).
extension SupervisedQueue {
    /// Takes the queue's length from a reading, or its key's error (e.g. WRONGTYPE: its workers
    /// are held rather than guessed at); logs the key becoming unreadable or readable again, once.
    mutating func absorbLength(_ reading: PollReading, queue q: String, prefix: String, logger: Logger) {
        if let message = reading.keyErrors[q] {
            if unreadable == nil {
                logger.error("queue.unreadable", metadata: ["queue": "\(q)", "key": "\(prefix + q)", "error": "\(message)",
                                                            "action": "holding its workers until the key is a list again"])
            }
            unreadable = message
            return
        }
        if unreadable != nil {
            logger.info("queue.readable", metadata: ["queue": "\(q)"])
            unreadable = nil
        }
        pending = reading.lengths[q] ?? 0
    }

    /// Takes whether the queue is paused (`orchestrator pause`), logging a change once.
    mutating func absorbPaused(_ paused: Bool, queue q: String, logger: Logger) {
        guard paused != isPaused else { return }
        isPaused = paused
        logger.info(paused ? "queue.paused" : "queue.resumed", metadata: ["queue": "\(q)"])
    }

    /// `--scaling adaptive`: feeds the queue's rates (its stats, its `busy` workers) and recomputes its need.
    mutating func measure(_ stats: QueueStats, busy: Int, _ adaptive: AdaptivePolicy, now: ContinuousClock.Instant) {
        let completed = stats.done + stats.failed
        let histogram = stats.histogram
        let timed = stats.durationSumMilliseconds == nil ? nil : QueueRates.JobTime(jobs: histogram.count, seconds: histogram.sum)
        rates.observe(now: now, pending: pending, busy: busy, completed: completed, durations: timed)
        if pending == 0 { backlogSince = nil } else if backlogSince == nil { backlogSince = now }
        need = adaptive.need(pending: pending, rates: rates, backlogSince: backlogSince, now: now)
    }

    /// Whether `n` jobs want more workers than the last poll saw (the seed's formula).
    func wantsMore(pending n: Int, policy: ScalingPolicy) -> Bool {
        !isPaused && unreadable == nil && policy.rawNeed(pending: n) > policy.rawNeed(pending: pending)
    }
}

extension SupervisedWorker {
    /// Takes its heartbeat: it is ready; busy or idle, its handler, its job's start, its tree's PSS.
    mutating func absorb(_ beat: WorkerHeartbeat) {
        _ = lifecycle.reportedReady()
        isBusy = beat.state == .busy
        handlerPID = beat.handlerPID
        jobStartedAt = beat.jobStartedAt
        pssBytes = beat.memory.pssBytes
    }
}

extension PollReading {
    /// Takes the reading into a table's queue and worker states, each logging its changes once (a
    /// key unreadable or readable again, a queue paused or resumed); `--scaling adaptive` measures
    /// each readable queue. Returns the workers whose heartbeat was taken.
    func absorb(into queues: inout [String: SupervisedQueue], workers: inout [Int32: SupervisedWorker], settings: OrchestratorSettings,
                logger: Logger, now: ContinuousClock.Instant) -> [Int32] {
        for q in settings.queues { queues[q, default: SupervisedQueue()].absorbLength(self, queue: q, prefix: settings.job.prefix, logger: logger) }
        var beats: [Int32] = []
        for (pid, beat) in heartbeats where workers[pid] != nil {
            workers[pid]?.absorb(beat)
            beats.append(pid)
        }
        if let adaptive = settings.adaptive {
            for q in settings.queues where (queues[q] ?? SupervisedQueue()).unreadable == nil {
                let busy = workers.values.filter { $0.queue == q && $0.isBusy }.count
                queues[q, default: SupervisedQueue()].measure(QueueStats(fields: stats[q] ?? [:]), busy: busy, adaptive, now: now)
            }
        }
        for q in settings.queues { queues[q, default: SupervisedQueue()].absorbPaused(paused.contains(q), queue: q, logger: logger) }
        return beats
    }
}
