import CShims
import Foundation
import Logging

/// The orchestrator's loop: every poll interval it reads queue lengths and heartbeats, asks the
/// `ScalingPolicy` for targets, and starts or drains workers to match; between polls it handles
/// worker exits and signals. One thread owns all of this state (like unicorn's master loop).
public final class Supervisor {
    struct Worker {
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
        var snapshot: WorkerSnapshot {
            WorkerSnapshot(pid: pid, queue: queue, isBusy: isBusy, isDraining: lifecycle.isDraining, startedAt: startedAt)
        }
    }

    struct QueueState {
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

    let settings: OrchestratorSettings
    let reconcile: Reconcile
    let launcher: ProcessLauncher
    let inbox: EventInbox
    let link: RedisLink
    let logger: Logger
    let clock = ContinuousClock()
    let host = WallClock.hostName()
    let pid = getpid()
    let baseEnvironment: [String: String]
    var workers: [Int32: Worker] = [:]
    var queues: [String: QueueState] = [:]
    var isDraining = false
    /// Kills processes re-parented to us and requeues abandoned processing lists.
    let orphans: OrphanSweeper
    /// Worker ids whose processing lists still need requeueing (Redis was down when they exited).
    /// `stopped`: a worker killed by the drain, whose jobs go back untouched (attempt not counted).
    var pendingRequeues: [(queue: String, id: String, stopped: Bool)] = []
    /// Processing lists whose requeue the server refused (a key of the wrong type), logged once each.
    var refusedRequeues: Set<String> = []
    /// This drain: workers SIGKILLed, and the ids of the jobs they held, requeued untouched.
    var drainKilled = 0
    var drainRequeued: [String] = []
    /// Keys holding no job found of the wrong type, reported once each.
    var keyFaults = KeyFaults()
    var nextPoll: ContinuousClock.Instant
    /// Between polls, queue lengths are peeked this often (one pipelined LLEN per queue); a rise
    /// that wants more workers brings the next poll forward to now.
    static let peekInterval: Duration = .milliseconds(100)
    var nextPeek: ContinuousClock.Instant
    var drainHeartbeatTimer = Every(Heartbeat.refresh)
    /// Every worker's heartbeat is read this often (idle ones change rarely); starting ones every poll.
    var heartbeatReadTimer = Every(Heartbeat.orchestratorReadPeriod)
    /// Stats hashes and retry/dead backlogs are read this often (every poll with adaptive scaling).
    var statsReadTimer = Every(Heartbeat.statsReadPeriod)
    /// Called on SIGHUP (after logrotate moved the file).
    public var reopenLogs: (() -> Void)?
    /// Where `/metrics` reads from, when `--metrics-listen` is set.
    public var metrics: MetricsBox?
    var workerStarts: [String: Int] = [:]
    var workerExits: [String: [String: Int]] = [:]
    /// The last poll's reading (for /metrics: stats, backlogs).
    var lastReading = PollReading()
    /// Wall time spent in `poll()` (Redis round trips included), for /metrics.
    var pollTime = PollTimeHistogram()
    var redisReadable = false
    /// Whether a poll has run yet: Redis lost before the first poll is still a `redis_down` event.
    var redisStateKnown = false
    let startedAtMilliseconds = WallClock.nowMilliseconds()
    /// The alert rules, their delivery and the `--alert-command` processes.
    let alerts: AlertDelivery
    /// Per-queue minute samples and the jobs/min rates.
    var history: HistoryRecorder
    var events: EventLog
    /// `--alert-command` processes running now: our children, but not orphans to sweep.
    var helpers: HelperSet { alerts.helpers }
    /// At the end of a drain, how long requeues that failed (Redis unreachable) are retried.
    static let requeueGrace: Duration = .seconds(10)
    /// Our membership of the fleet of the prefix, our slot leases and the fence.
    let leases: FleetLeases
    /// Queue lengths from the fleet's feed (and, while this host leads, their reading and publishing).
    let lengthSource: LengthSource
    /// A watched queue's state (every one has a state from `init`; an unknown name reads as new).
    func state(of queue: String) -> QueueState { queues[queue] ?? QueueState() }
    var hostCapacity: Int { min(settings.fleet.hostMaxWorkers, settings.policy.maxTotal) }

    public init(settings: OrchestratorSettings, launcher: ProcessLauncher, inbox: EventInbox, link: RedisLink,
                logger: Logger, environment: [String: String], fleet: FleetMembership? = nil) {
        self.settings = settings
        self.leases = FleetLeases(membership: fleet ?? FleetMembership(prefix: settings.job.prefix, settings: settings.fleet, policy: settings.policy),
                                  capacity: min(settings.fleet.hostMaxWorkers, settings.policy.maxTotal), link: link, logger: logger)
        self.orphans = OrphanSweeper(pid: getpid(), logger: logger)
        self.lengthSource = LengthSource(settings: settings, endpoint: link.connection.endpoint, inbox: inbox, logger: logger,
                                         watched: FleetView().watchedQueues(own: settings.queues))
        self.reconcile = Reconcile(policy: settings.policy, summaryInterval: settings.summaryInterval)
        self.alerts = AlertDelivery(settings: settings, host: WallClock.hostName(), logger: logger, environment: environment)
        self.history = HistoryRecorder(prefix: settings.job.prefix, retention: settings.historyRetention)
        self.events = EventLog(prefix: settings.job.prefix, maxLength: settings.eventsMax, host: settings.fleet.hostID)
        self.launcher = launcher
        self.inbox = inbox
        self.link = link
        self.logger = logger
        self.baseEnvironment = environment
        nextPoll = clock.now
        nextPeek = clock.now
        for q in settings.queues { queues[q] = QueueState() }
    }

    deinit {
        leases.watchdog.stop()
        lengthSource.stop()
    }

    /// Runs until drained. Returns the exit code (0).
    public func run() -> Int32 {
        recoverAbandoned(reason: "start-up: owners gone (an earlier orchestrator or worker was killed)")
        restoreRates()
        lengthSource.start()
        logger.info("\(LogEvents.orchestratorReady)", metadata: ["pid": "\(pid)", "queues": "\(settings.queues.joined(separator: ","))"])
        while true {
            let wakeAt = nextWake()
            let wait = max(.zero, wakeAt - clock.now)
            checkLeases()
            let batch = inbox.take(waitingFor: wait)
            checkLeases()  // before the exits: a worker the watchdog killed exits as fenced, not crashed
            for event in batch { handle(event) }
            if clock.now >= leases.nextRenewal && renewsBetweenPolls { renewFleet() }
            if isDraining {
                drainTick()
                if workers.isEmpty { return finishDrain() }
                continue
            }
            tickLengths()
            if clock.now >= nextPeek && clock.now < nextPoll {
                peek()
                nextPeek = clock.now + Self.peekInterval
            }
            if clock.now >= nextPoll {
                let started = clock.now
                poll()
                pollTime.observe((clock.now - started).seconds)
                nextPoll = clock.now + settings.pollInterval
                nextPeek = clock.now + Self.peekInterval
            }
        }
    }

    /// A renewal due before the next poll (which renews anyway) is sent on its own: while
    /// draining, and with a poll interval longer than the renewal period.
    private var renewsBetweenPolls: Bool { isDraining || nextPoll - leases.nextRenewal > .milliseconds(200) }

    private func nextWake() -> ContinuousClock.Instant {
        if isDraining { return clock.now + .milliseconds(100) }
        var next = settings.pollInterval > Self.peekInterval && redisReadable ? min(nextPoll, nextPeek) : nextPoll
        if renewsBetweenPolls { next = min(next, leases.nextRenewal) }
        if let lengths = lengthSource.nextDeadline(now: clock.now) { next = min(next, max(lengths, clock.now)) }
        // Wake when the watchdog fences, to log it at once.
        if !workers.isEmpty, let killAt = leases.leaseClock.killAt, killAt > clock.now { next = min(next, killAt + .milliseconds(10)) }
        return next
    }

    // MARK: - Events

    func handle(_ event: SupervisorEvent) {
        switch event {
        case .signal(SIGHUP):
            reopenLogs?()
            logger.info("logs.reopened")
        case .signal(let sig):
            if isDraining {
                logger.warning("\(LogEvents.drainBegin)", metadata: ["signal": "\(signalName(sig))", "mode": "now: SIGKILL and requeue"])
                for pid in Array(workers.keys) where workers[pid]?.lifecycle.killNow() == .sendKill { killWorker(pid, byDrain: true) }
            } else {
                beginDrain(signal: sig)
            }
        case .workerExited(let pid, let status):
            workerExited(pid: pid, status: status)
        case .lengthFeed(let event):
            lengthFed(event)
        }
    }

    func beginDrain(signal sig: Int32) {
        isDraining = true
        let deadline = clock.now + settings.drainTimeout
        logger.info("\(LogEvents.drainBegin)", metadata: ["signal": "\(signalName(sig))", "workers": "\(workers.count)",
                                                          "deadline": "\(formatDuration(settings.drainTimeout))"])
        for pid in workers.keys.sorted() where workers[pid]?.lifecycle.drainRequested(deadline: deadline) == .sendTerminate {
            launcher.signal(pid, SIGTERM)
        }
        events.record("drain_begin", [("signal", signalName(sig)), ("workers", "\(workers.count)")])
        writeInstanceHeartbeat()
    }

    func drainTick() {
        let now = clock.now
        if drainHeartbeatTimer.isDue(now) {
            writeInstanceHeartbeat()  // `status` keeps showing us (state draining) during a long drain
            flushEvents()
            publishMetrics()
            killAdoptedOrphans()
        }
        for pid in Array(workers.keys) where workers[pid]?.lifecycle.tick(now: now) == .sendKill {
            logger.warning("\(LogEvents.workerKilled)", metadata: ["worker": "\(workers[pid]?.label ?? "")", "pid": "\(pid)", "why": "drain timeout passed"])
            killWorker(pid, byDrain: true)
        }
        retryPendingRequeues()
    }

    private func finishDrain() -> Int32 {
        // Handlers of workers killed past the deadline were adopted by us: none may outlive the drain.
        killAdoptedOrphans()
        // Jobs of killed workers go back before we exit: wait out a short outage (bounded).
        let giveUp = clock.now + Self.requeueGrace
        retryPendingRequeues()
        while !pendingRequeues.isEmpty && clock.now < giveUp {
            link.waitForNextAttempt()
            usleep(50_000)
            retryPendingRequeues()
        }
        for (queue, id, _) in pendingRequeues {
            logger.error("requeue.pending", metadata: ["queue": "\(queue)", "worker.id": "\(id)",
                                                       "note": "Redis unreachable; the next worker or orchestrator recovers it once its heartbeat expires"])
        }
        events.record("drain_done", [])
        flushEvents()
        // No orchestrator, no active alerts: `status` and `orchestrator alerts` stop showing them.
        if leases.isLeader && !leases.hasOtherHosts {
            _ = try? link.perform { c throws(RedisError) in
                try c.pipeline([["DEL", RedisArg(QueueKeys.instance(prefix: settings.job.prefix))], ["DEL", RedisArg(QueueKeys.alerts(prefix: settings.job.prefix))]])
            }
        }
        leases.leave()
        let code = leases.hostIDTaken ? ExitCodes.alreadyRunning : ExitCodes.ok
        logger.info("\(LogEvents.drainDone)", metadata: ["exit": "\(code)", "killed": "\(drainKilled)",
                                                         "requeued": "\(drainRequeued.isEmpty ? "none" : drainRequeued.joined(separator: ","))"])
        return code
    }

    /// SIGKILL a worker and its handler's process group (a browser must not outlive it), only
    /// while the worker is not reaped (`OwnedProcess`): never a process that reused its pid.
    /// `byDrain`: the operator's drain stopped it (its job's attempt is not counted).
    func killWorker(_ pid: Int32, byDrain: Bool = false) {
        if byDrain, workers[pid] != nil {
            workers[pid]?.killedByDrain = true
            drainKilled += 1
        }
        launcher.owned(pid)?.killHandlerGroup(workers[pid]?.handlerPID)
        launcher.signal(pid, SIGKILL)
    }

    private func workerExited(pid: Int32, status: TerminationStatus) {
        guard var worker = workers[pid] else { return }  // var: the lifecycle records the exit
        let action = worker.lifecycle.processExited(status)
        workers[pid] = nil
        let fenced = leases.exited(pid)
        (launcher as? FoundationProcessLauncher)?.forget(pid)
        guard case .requeue(let kind) = action else { return }
        var queueState = state(of: worker.queue)
        let now = clock.now
        let total = workers.values.filter { $0.queue == worker.queue }.count
        let line = RebalanceLines.stopped(name: worker.name, pid: pid, status: "\(status)", queue: worker.queue, total: total)
        switch kind {
        case .crashed, .killed:
            // Its handler, if any, was re-parented to us: killAdoptedOrphans below ends it.
            logger.error("\(line)", metadata: ["event": "\(LogEvents.workerExited)", "kind": "\(fenced ? "fenced (SIGKILLed by the lease fence)" : "\(kind)")"])
        case .leaseLost:
            logger.warning("\(line)", metadata: ["event": "\(LogEvents.workerExited)", "kind": "lease lost (exit 77: it took no job without its slot lease)"])
        default:
            logger.info("\(line)", metadata: ["event": "\(LogEvents.workerExited)"])
        }
        requeue(queue: worker.queue, id: worker.id, stopped: kind == .killed && worker.killedByDrain)
        killAdoptedOrphans()
        if case .crashed = kind, !isDraining {
            if queueState.backoff.crashed(at: now) {
                if queueState.lastCrashLoopAlert.map({ now - $0 >= .seconds(60) }) ?? true {
                    queueState.lastCrashLoopAlert = now
                    logger.critical("\(LogEvents.crashLoop)", metadata: ["queue": "\(worker.queue)", "crashes_last_minute": "\(queueState.backoff.recent.filter { now - $0 < .seconds(60) }.count)",
                                                                         "restart_delay": "\(formatDuration(queueState.backoff.currentDelay))",
                                                                         "hint": "see \(shellQuoted("\(settings.logDir)/\(worker.name).log"))"])
                }
            }
        } else if now - worker.startedAt >= .seconds(10) || kind == .recycled || kind == .drained {
            queueState.backoff.reset()
        }
        queues[worker.queue] = queueState
        workerExits[worker.queue, default: [:]][kind.metricName, default: 0] += 1
        events.record("worker_exited", [("queue", worker.queue), ("slot", "\(worker.slot)"), ("pid", "\(pid)"), ("kind", kind.metricName),
                                        ("status", "\(status)"), ("pss_bytes", "\(worker.pssBytes)")])
        nextPoll = clock.now  // replace it (or not) right away
    }
}

/// Cumulative histogram of poll pass times, Prometheus style.
struct PollTimeHistogram {
    static let bounds: [Double] = [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]
    private var counts = [Int](repeating: 0, count: bounds.count)
    private(set) var count = 0
    private(set) var sum = 0.0
    mutating func observe(_ seconds: Double) {
        count += 1
        sum += seconds
        for (i, b) in Self.bounds.enumerated() where seconds <= b { counts[i] += 1 }
    }
    var buckets: [(String, Int)] { zip(Self.bounds, counts).map { ("\($0)", $1) } + [("+Inf", count)] }
}
