import CShims
import Foundation
import Logging

/// The orchestrator's loop: every poll interval it reads queue lengths and heartbeats, asks the
/// `ScalingPolicy` for targets, and starts or drains workers to match; between polls it handles
/// worker exits and signals. One thread owns all of this state (like unicorn's master loop).
public final class Supervisor {
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
    var workers: [Int32: SupervisedWorker] = [:]
    var queues: [String: SupervisedQueue] = [:]
    /// The operator's drain (`DrainController`).
    var drain: DrainController
    var isDraining: Bool { drain.isDraining }
    // The components (each owns its state; see its file).
    let applier: PlanApplier
    let orphans: OrphanSweeper
    var requeuer: JobRequeuer
    var keyFaults = KeyFaults()
    /// Alerts, history, the instance record and `/metrics` (`PollPublisher`).
    let publishing: PollPublisher
    var events: EventLog
    let leases: FleetLeases
    var nextPoll: ContinuousClock.Instant
    /// Between polls, queue lengths are peeked this often (one pipelined LLEN per queue); a rise
    /// that wants more workers brings the next poll forward to now.
    static let peekInterval: Duration = .milliseconds(100)
    var nextPeek: ContinuousClock.Instant
    /// Called on SIGHUP (after logrotate moved the file).
    public var reopenLogs: (() -> Void)?
    /// Where `/metrics` reads from, when `--metrics-listen` is set.
    public var metrics: MetricsBox? {
        get { publishing.metrics }
        set { publishing.metrics = newValue }
    }
    var redisReadable = false
    /// Whether a poll has run yet: Redis lost before the first poll is still a `redis_down` event.
    var redisStateKnown = false
    let startedAtMilliseconds: Int64
    /// Queue lengths from the fleet's feed (and, while this host leads, their reading and publishing).
    let lengthSource: LengthSource
    /// The poll's read of Redis (it keeps the last reading: `reader.last`).
    let reader: PollReader
    /// A watched queue's state (every one has a state from `init`; an unknown name reads as new).
    func state(of queue: String) -> SupervisedQueue { queues[queue] ?? SupervisedQueue() }
    /// Every queue some live host of the fleet watches, ours included.
    var fleetQueues: [String] { Set(leases.view.watchedQueues).union(settings.queues).sorted() }

    public init(settings: OrchestratorSettings, launcher: ProcessLauncher, inbox: EventInbox, link: RedisLink,
                logger: Logger, environment: [String: String], fleet: FleetMembership? = nil) {
        self.settings = settings
        let leases = FleetLeases(membership: fleet ?? FleetMembership(prefix: settings.job.prefix, settings: settings.fleet, policy: settings.policy),
                                 capacity: min(settings.fleet.hostMaxWorkers, settings.policy.maxTotal), link: link, logger: logger)
        self.leases = leases
        self.orphans = OrphanSweeper(pid: getpid(), logger: logger)
        let lengthSource = LengthSource(settings: settings, endpoint: link.connection.endpoint, inbox: inbox, logger: logger, watched: settings.queues.sorted())
        self.lengthSource = lengthSource
        self.reader = PollReader(settings: settings, link: link, lengthSource: lengthSource, logger: logger)
        self.reconcile = Reconcile(policy: settings.policy, summaryInterval: settings.summaryInterval)
        let startedAt = WallClock.nowMilliseconds()
        self.startedAtMilliseconds = startedAt
        self.publishing = PollPublisher(settings: settings, link: link, logger: logger, environment: environment, pid: getpid(), host: WallClock.hostName(),
                                        startedAt: startedAt)
        self.events = EventLog(prefix: settings.job.prefix, maxLength: settings.eventsMax, host: settings.fleet.hostID)
        self.requeuer = JobRequeuer(prefix: settings.job.prefix, link: link, logger: logger)
        (self.launcher, self.inbox, self.link, self.logger) = (launcher, inbox, link, logger)
        self.drain = DrainController(timeout: settings.drainTimeout, logger: logger)
        self.applier = PlanApplier(settings: settings, logger: logger, launcher: launcher,
                                   spawner: WorkerSpawner(settings: settings, baseEnvironment: environment, orchestratorPID: getpid(), logger: logger), leases: leases)
        nextPoll = clock.now
        nextPeek = clock.now
        for q in settings.queues { queues[q] = SupervisedQueue() }
    }

    deinit {
        leases.watchdog.stop()
        lengthSource.stop()
    }

    /// Runs until drained. Returns the exit code (0).
    public func run() -> Int32 {
        recoverAbandoned(reason: "start-up: owners gone (an earlier orchestrator or worker was killed)")
        for (q, rates) in reader.storedRates() { queues[q, default: SupervisedQueue()].rates = rates }  // a restart is not cold (adaptive)
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
            if clock.now >= nextPeek && clock.now < nextPoll { peek() }
            if clock.now >= nextPoll {
                let started = clock.now
                poll()
                publishing.counters.observePoll(seconds: (clock.now - started).seconds)
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
        case .signal(let sig) where isDraining:
            for pid in drain.killNow(signal: sig, workers: &workers) { killWorker(pid, byDrain: true) }
        case .signal(let sig):
            beginDrain(signal: sig)
        case .workerExited(let pid, let status):
            workerExited(pid: pid, status: status)
        case .lengthFeed(let event):
            if reader.fed(event, states: queues) { nextPoll = clock.now }  // a rise that wants more workers, or a pause
        }
    }

    func beginDrain(signal sig: Int32) {
        for pid in drain.begin(signal: sig, workers: &workers, now: clock.now) { launcher.signal(pid, SIGTERM) }
        events.record("drain_begin", [("signal", signalName(sig)), ("workers", "\(workers.count)")])
        writeInstanceHeartbeat()
    }

    func drainTick() {
        let now = clock.now
        if drain.periodicDue(now) {
            writeInstanceHeartbeat()  // `status` keeps showing us (state draining) during a long drain
            flushEvents()
            publishMetrics()
            killAdoptedOrphans()
        }
        for pid in drain.expired(workers: &workers, now: now) { killWorker(pid, byDrain: true) }
        requeuer.retryPending()
    }

    private func finishDrain() -> Int32 {
        // Handlers of workers killed past the deadline were adopted by us: none may outlive the drain.
        killAdoptedOrphans()
        requeuer.finish(grace: JobRequeuer.drainGrace)  // jobs of killed workers go back before we exit
        events.record("drain_done", [])
        flushEvents()
        return drain.finish(leases: leases, link: link, prefix: settings.job.prefix, requeued: requeuer.drainRequeued)
    }

    /// SIGKILL a worker and its handler's process group (a browser must not outlive it), only
    /// while the worker is not reaped (`OwnedProcess`): never a process that reused its pid.
    /// `byDrain`: the operator's drain stopped it (its job's attempt is not counted).
    func killWorker(_ pid: Int32, byDrain: Bool = false) {
        if byDrain, workers[pid] != nil { workers[pid]?.killedByDrain = true; drain.killed += 1 }
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
        let now = clock.now
        worker.logExit(kind, status: status, fenced: fenced, total: workers.values.filter { $0.queue == worker.queue }.count, logger: logger)
        requeuer.requeue(queue: worker.queue, id: worker.id, stopped: kind == .killed && worker.killedByDrain)
        killAdoptedOrphans()
        worker.exited(kind, queues: &queues, isDraining: isDraining, now: now, logDir: settings.logDir, logger: logger)
        publishing.counters.exited(queue: worker.queue, kind: kind)
        worker.recordExit(kind, status: status, events: &events)
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
        if redisReadable, FleetReactions.readsBeforePlanning(leases, queues: settings.queues, states: queues, pollStartedAt: started) { renewFleet() }
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

    /// Performs a plan (`PlanApplier`), which enters the workers that started in the table.
    func apply(_ plan: ReconcilePlan) { applier.apply(plan, queues: &queues, workers: &workers, events: &events, counters: &publishing.counters) }

    /// The Supervisor's state as the publish step sees it (`PollPublisher`).
    var snapshot: PollPublisher.Snapshot {
        .init(states: queues, workers: Array(workers.values), reading: reader.last, redisReadable: redisReadable, isDraining: isDraining)
    }

    func publishMetrics() { publishing.publishMetrics(snapshot) }
    func evaluateAlerts() { publishing.evaluateAlerts(snapshot, now: clock.now, events: &events, keyFaults: &keyFaults) }
    func recordHistory() { publishing.recordHistory(snapshot, keyFaults: &keyFaults) }
    /// `orchestrator:<prefix>instance`: the fleet's leader only.
    func writeInstanceHeartbeat() { if leases.isLeader { publishing.writeInstance(snapshot, fleet: leases.view, keyFaults: &keyFaults) } }

    /// Writes buffered events (one pipelined round trip); on failure they stay buffered.
    func flushEvents() { if redisReadable { events.flush(link: link, keyFaults: &keyFaults, logger: logger) } }

    /// Kills the processes re-parented to us that are neither workers nor `--alert-command` helpers (`OrphanSweeper`).
    @discardableResult
    func killAdoptedOrphans() -> Int { orphans.killAdopted { [workers, helpers = publishing.alerts.helpers] child in workers[child] != nil || helpers.contains(child) } }

    /// Requeues processing lists whose owner's heartbeat expired, never those of our own live workers
    /// nor of another live host's.
    func recoverAbandoned(reason: String, queues: [String]? = nil) {
        orphans.recoverAbandoned(queues: queues ?? settings.queues, prefix: settings.job.prefix, link: link, sparing: Set(workers.values.map(\.id)),
                                 otherHosts: Set(leases.view.hosts.map(\.id)).subtracting([leases.hostID]), reason: reason, now: clock.now, faults: &keyFaults)
    }

    /// Renews our member record and leases when due (`FleetReactions.renewIfDue`) and performs what it
    /// decided. False when Redis did not answer (or the last renewal failed and the next is not due).
    @discardableResult
    func renewFleet() -> Bool {
        let outcome = FleetReactions.renewIfDue(leases, settings: settings, pid: pid, machine: host, startedAt: startedAtMilliseconds,
                                                isDraining: isDraining, workers: &workers, states: queues, logger: logger, events: &events)
        for pid in outcome.kill { killWorker(pid) }
        if outcome.drain && !isDraining { beginDrain(signal: SIGTERM) }  // our host id is another instance's
        return outcome.answered
    }

    /// Checked on every loop pass: fences when the watchdog has killed the workers (the lease
    /// deadline passed without a renewal), logged at once.
    func checkLeases() { for pid in FleetReactions.watchdogFence(leases, workers: &workers, logger: logger, events: &events) { killWorker(pid) } }

    /// Between polls (`PollReader.peekWantsMore`): a burst that wants more workers brings the poll forward.
    func peek() {
        if settings.pollInterval > Self.peekInterval, redisReadable, reader.peekWantsMore(states: queues) { nextPoll = clock.now }
        nextPeek = clock.now + Self.peekInterval
    }

    /// The leader's reading and publishing of lengths, and the feed's liveness (logged on change).
    /// Not before the first poll: until its renewal has read the fleet, every host thinks it leads.
    func tickLengths() {
        lengthSource.tick(isLeader: redisStateKnown && leases.isLeader, watched: fleetQueues, link: link, now: clock.now)
    }

    /// Reads Redis into the supervisor's state (`PollReader.readAndAbsorb`); the fence tracks the
    /// handler of each worker whose heartbeat was taken. False when Redis is unreadable.
    func readRedis() -> Bool {
        guard let taken = reader.readAndAbsorb(queues: &queues, workers: &workers, isLeader: leases.isLeader, serving: metrics != nil,
                                               keyFaults: &keyFaults, now: clock.now) else { return false }
        for pid in taken { if let owned = launcher.owned(pid) { leases.track(owned, handler: workers[pid]?.handlerPID) } }
        return true
    }
}
