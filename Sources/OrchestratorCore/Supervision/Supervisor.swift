import CShims
import Foundation
import Logging

/// The orchestrator's loop: every poll interval it reads queue lengths and heartbeats, asks the
/// `ScalingPolicy` for targets, and starts or drains workers to match; between polls it handles
/// worker exits and signals. One thread owns all of this state (like unicorn's master loop).
public final class Supervisor {
    typealias Worker = SupervisedWorker
    typealias QueueState = SupervisedQueue

    let settings: OrchestratorSettings
    let reconcile: Reconcile
    let launcher: ProcessLauncher
    let inbox: EventInbox
    let link: RedisLink
    let logger: Logger
    let clock = ContinuousClock()
    let host = WallClock.hostName()
    let pid = getpid()
    /// The worker table and each watched queue's state.
    var workers: [Int32: Worker] = [:]
    var queues: [String: QueueState] = [:]
    var isDraining = false
    var drainKilled = 0  // this drain: workers SIGKILLed
    // The components (each owns its state; see its file).
    let spawner: WorkerSpawner
    let orphans: OrphanSweeper
    var requeuer: JobRequeuer
    var keyFaults = KeyFaults()
    var publisher = MetricsPublisher()
    let alerts: AlertDelivery
    var history: HistoryRecorder
    var events: EventLog
    let leases: FleetLeases
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
    /// The last poll's reading (for /metrics: stats, backlogs).
    var lastReading = PollReading()
    var redisReadable = false
    /// Whether a poll has run yet: Redis lost before the first poll is still a `redis_down` event.
    var redisStateKnown = false
    let startedAtMilliseconds = WallClock.nowMilliseconds()
    /// `--alert-command` processes running now: our children, but not orphans to sweep.
    var helpers: HelperSet { alerts.helpers }
    /// Queue lengths from the fleet's feed (and, while this host leads, their reading and publishing).
    let lengthSource: LengthSource
    /// A watched queue's state (every one has a state from `init`; an unknown name reads as new).
    func state(of queue: String) -> QueueState { queues[queue] ?? QueueState() }
    var hostCapacity: Int { min(settings.fleet.hostMaxWorkers, settings.policy.maxTotal) }
    /// Every queue some live host of the fleet watches, ours included.
    var fleetQueues: [String] { Set(leases.view.watchedQueues).union(settings.queues).sorted() }

    public init(settings: OrchestratorSettings, launcher: ProcessLauncher, inbox: EventInbox, link: RedisLink,
                logger: Logger, environment: [String: String], fleet: FleetMembership? = nil) {
        self.settings = settings
        self.leases = FleetLeases(membership: fleet ?? FleetMembership(prefix: settings.job.prefix, settings: settings.fleet, policy: settings.policy),
                                  capacity: min(settings.fleet.hostMaxWorkers, settings.policy.maxTotal), link: link, logger: logger)
        self.orphans = OrphanSweeper(pid: getpid(), logger: logger)
        self.lengthSource = LengthSource(settings: settings, endpoint: link.connection.endpoint, inbox: inbox, logger: logger,
                                         watched: settings.queues.sorted())
        self.reconcile = Reconcile(policy: settings.policy, summaryInterval: settings.summaryInterval)
        self.alerts = AlertDelivery(settings: settings, host: WallClock.hostName(), logger: logger, environment: environment)
        self.history = HistoryRecorder(prefix: settings.job.prefix, retention: settings.historyRetention)
        self.events = EventLog(prefix: settings.job.prefix, maxLength: settings.eventsMax, host: settings.fleet.hostID)
        self.requeuer = JobRequeuer(prefix: settings.job.prefix, link: link, logger: logger)
        (self.launcher, self.inbox, self.link, self.logger) = (launcher, inbox, link, logger)
        self.spawner = WorkerSpawner(settings: settings, baseEnvironment: environment, orchestratorPID: getpid(), logger: logger)
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
                publisher.observePoll(seconds: (clock.now - started).seconds)
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
        requeuer.retryPending()
    }

    private func finishDrain() -> Int32 {
        // Handlers of workers killed past the deadline were adopted by us: none may outlive the drain.
        killAdoptedOrphans()
        requeuer.finish(grace: JobRequeuer.drainGrace)  // jobs of killed workers go back before we exit
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
                                                         "requeued": "\(requeuer.drainRequeued.isEmpty ? "none" : requeuer.drainRequeued.joined(separator: ","))"])
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
        worker.logExit(kind, status: status, fenced: fenced, total: workers.values.filter { $0.queue == worker.queue }.count, logger: logger)
        requeuer.requeue(queue: worker.queue, id: worker.id, stopped: kind == .killed && worker.killedByDrain)
        killAdoptedOrphans()
        if let crashes = queueState.workerExited(kind, ranFor: now - worker.startedAt, isDraining: isDraining, now: now) {
            logger.critical("\(LogEvents.crashLoop)", metadata: ["queue": "\(worker.queue)", "crashes_last_minute": "\(crashes)",
                                                                 "restart_delay": "\(formatDuration(queueState.backoff.currentDelay))",
                                                                 "hint": "see \(shellQuoted("\(settings.logDir)/\(worker.name).log"))"])
        }
        queues[worker.queue] = queueState
        publisher.exited(queue: worker.queue, kind: kind)
        events.record("worker_exited", [("queue", worker.queue), ("slot", "\(worker.slot)"), ("pid", "\(pid)"), ("kind", kind.metricName),
                                        ("status", "\(status)"), ("pss_bytes", "\(worker.pssBytes)")])
        nextPoll = clock.now  // replace it (or not) right away
    }

    // MARK: - Read, plan, apply, publish

    /// One reconcile pass: read Redis, plan (`Reconcile`, pure), apply. On a Redis read error it
    /// holds (never scales down).
    func poll() {
        requeuer.retryPending()
        killAdoptedOrphans()  // a browser re-parented to us after the last sweep, and zombies
        let wasReadable: Bool? = redisStateKnown ? redisReadable : nil
        let started = clock.now
        let renewed = renewFleet()
        redisReadable = renewed && readRedis()
        if redisReadable { readFleetBeforePlanning(pollStartedAt: started) }
        redisStateKnown = true
        if redisReadable != wasReadable, wasReadable != nil || !redisReadable { events.record(redisReadable ? "redis_up" : "redis_down", []) }
        if leases.isLeader { evaluateAlerts() }
        flushEvents()
        defer { publishMetrics() }
        guard redisReadable else { return }
        let now = clock.now
        let plan = reconcile.plan(queues: settings.queues.map { state(of: $0).snapshot($0) },
                                  workers: workers.values.filter { !$0.lifecycle.isExited }.map(\.snapshot), now: now, fleet: leases.context)
        apply(plan)
        if leases.isLeader { recordHistory() }
        writeInstanceHeartbeat()
        // The periodic scan is the leader's, over every queue of the fleet (one SCAN per queue, not
        // one per host); every host recovers at start-up, and requeues its own workers' jobs as they exit.
        if orphans.recoveryDue(now: now, outagesEnded: link.outagesEnded) {
            if leases.isLeader { recoverAbandoned(reason: "owner heartbeat expired", queues: fleetQueues) } else { orphans.recoveryTimer.restart(at: now) }
        }
    }

    /// Performs a plan: keeps each queue's new target and timers, logs its lines, sends its
    /// TERMs, and starts its workers (only under a slot lease of the fleet, only while Redis
    /// confirms our leases).
    func apply(_ plan: ReconcilePlan) {
        for (queue, outcome) in plan.queues {
            queues[queue, default: QueueState()].take(outcome)
            if outcome.heldByBackoff {
                logger.debug("scale.backoff", metadata: ["queue": "\(queue)", "delay": "\(formatDuration(state(of: queue).backoff.currentDelay))"])
            }
        }
        for decision in plan.decisions {
            logger.info("\(decision.line)", metadata: ["event": "\(decision.event)"])
            guard decision.direction != .steady else { continue }
            events.record("scale", [("queue", decision.queue), ("direction", decision.direction.rawValue), ("pending", "\(state(of: decision.queue).pending)"),
                                    ("target", "\(state(of: decision.queue).target.allotted)"), ("line", decision.line)])
        }
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
        for queue in done.failed { _ = queues[queue, default: QueueState()].backoff.crashed(at: now) }
        for (worker, lease) in done.started { started(worker, lease: lease) }
    }

    /// A worker the spawner started joins the table.
    private func started(_ worker: Worker, lease: Int) {
        workers[worker.pid] = worker
        // A made-up pid (a fake launcher) has no handle: the watchdog can signal only our children.
        leases.started(worker.pid, slot: lease, queue: worker.queue, process: launcher.owned(worker.pid))
        publisher.started(queue: worker.queue)
        events.record("worker_spawned", [("queue", worker.queue), ("slot", "\(worker.slot)"), ("pid", "\(worker.pid)")])
        logger.info("\(RebalanceLines.started(name: worker.name, pid: worker.pid, queue: worker.queue, total: workers.values.filter { $0.queue == worker.queue }.count))",
                    metadata: ["event": "\(LogEvents.workerSpawned)"])
    }

    /// `/metrics` (no-op without `--metrics-listen`): the publisher renders the values passed in.
    func publishMetrics() {
        guard let metrics else { return }
        let values = MetricsPublisher.Values(settings: settings, states: queues, workers: Array(workers.values), reading: lastReading,
                                             jobsPerMinute: { self.history.jobsPerMinute($0, done: self.doneTotal($0)) },
                                             activeAlerts: Set(alerts.engine.active.map { "\($0.rule.rawValue):\($0.queue)" }), redisUp: redisReadable, isDraining: isDraining)
        metrics.update(text: publisher.text(values, processMetrics: ProcessMetrics.add(to:)), healthy: redisReadable && !isDraining)
    }

    /// Runs the alert rules on this poll's state (`AlertDelivery`) and writes what they deliver.
    func evaluateAlerts() {
        let now = clock.now
        let observed = redisReadable ? AlertDelivery.observations(settings: settings, states: queues, workers: Array(workers.values), reading: lastReading, now: now) : []
        let commands = alerts.evaluate(now: now, redisReadable: redisReadable, queues: observed, events: &events)
        if redisReadable, !commands.isEmpty, pipelineReporting(commands, skipped: "alert not published") != nil { alerts.written() }
    }

    /// Writes buffered events (one pipelined round trip); on failure they stay buffered.
    func flushEvents() { if redisReadable { events.flush(link: link, keyFaults: &keyFaults, logger: logger) } }

    /// Feeds each queue's sample to the history; writes the finished minutes in one round trip.
    func recordHistory() {
        let readings = HistoryRecorder.readings(queues: settings.queues, states: queues, workers: Array(workers.values), reading: lastReading)
        let commands = history.record(readings, wallMilliseconds: WallClock.nowMilliseconds())
        if !commands.isEmpty { pipelineReporting(commands, skipped: "history sample not written") }
    }

    func doneTotal(_ q: String) -> Int { QueueStats(fields: lastReading.stats[q] ?? [:]).done }

    /// A pipeline on keys holding no job: a key of the wrong type is skipped and reported once (`KeyFaults`).
    @discardableResult
    func pipelineReporting(_ commands: [[RedisArg]], skipped: String, exempt: Range<Int>? = nil) -> [RedisReply]? {
        keyFaults.pipeline(commands, on: link, skipped: skipped, exempt: exempt, logger: logger)
    }

    /// Kills the processes re-parented to us that are neither workers nor helpers (`OrphanSweeper`).
    @discardableResult
    func killAdoptedOrphans() -> Int { orphans.killAdopted { [workers, helpers] child in workers[child] != nil || helpers.contains(child) } }

    /// Requeues processing lists whose owner's heartbeat expired, never those of our own live workers
    /// nor of another live host's.
    func recoverAbandoned(reason: String, queues: [String]? = nil) {
        orphans.recoverAbandoned(queues: queues ?? settings.queues, prefix: settings.job.prefix, link: link, sparing: Set(workers.values.map(\.id)),
                                 otherHosts: Set(leases.view.hosts.map(\.id)).subtracting([leases.hostID]), reason: reason, now: clock.now, faults: &keyFaults)
    }
}
