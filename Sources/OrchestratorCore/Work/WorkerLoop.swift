import CShims
import Foundation
import Logging

/// One worker process: take a job (BLMOVE into our own processing list), run it in the handler,
/// push the result and acknowledge, until told to stop. Synchronous on purpose: one thread owns
/// the Redis connection and the handler processes.
public final class WorkerLoop {
    public let settings: WorkerSettings
    public let workerID: String
    let link: RedisLink
    let queue: RedisJobQueue
    /// Writes results, retries and dead letters; keeps the job held when the server refuses.
    let outcomes: OutcomeWriter
    let runner: JobRunner
    /// Reaps what the handlers leave (a killed browser's processes become our zombies).
    let reaper: Reaper?
    let logger: Logger
    let clock = ContinuousClock()
    /// The orchestrator's `--host-id` (the hostname when run alone).
    let host = ProcessInfo.processInfo.environment["RPA_HOST_ID"].flatMap { $0.isEmpty ? nil : $0 } ?? WallClock.hostName()
    let startedAt = WallClock.nowMilliseconds()
    var jobsDone = 0
    var heartbeatTimer = Every(Heartbeat.refresh)
    /// The last time every heartbeat field was written, and what it said.
    var lastFullBeat: (state: WorkerState, jobsDone: Int, jobStartedAt: Int64?, at: ContinuousClock.Instant)?
    /// When the running job started (monotonic), to mark it busy once it passes `Heartbeat.busyAfter`.
    var jobClockStart: ContinuousClock.Instant?
    /// The last pop found the queue empty: block at once next time (no LMOVE first).
    var queueWasEmpty = true
    /// Job durations not yet added to the stats hash (`JobDuration` fields and `dur_ms_sum`).
    var durations: [String: Int64] = [:]
    var durationsFlushedAt: ContinuousClock.Instant?
    /// The next job, taken in the same round trip as the last one's result (already in our processing list).
    var prefetched: [UInt8]?
    var recoveryTimer = Every(Heartbeat.recoveryPeriod)
    /// `link.outagesEnded` when last looked at: after an outage live owners need a moment to write
    /// their expired heartbeats again, so the next recovery waits a full period.
    var outagesSeen = 0
    var housekeepingTimer = Every(Heartbeat.housekeepingPeriod)
    var state = WorkerState.idle
    var jobStartedAt: Int64?
    /// The job running now, for the handler's stderr lines.
    var currentJobID: String?
    var lastMemory = ProcessTree.Memory(rssBytes: 0, pssBytes: 0, processes: 1)
    /// The process tree's proportional memory (PSS) after the last job, for `--max-worker-rss-mb`;
    /// measured once per job.
    var memoryAfterJobs = (jobs: 0, bytes: 0)
    /// The queue error being reported (WRONGTYPE…): logged when it starts and when it ends, not every second.
    var queueError: String?
    /// The slot lease was found not ours by a take: what its key held and what this worker did.
    var leaseLoss: (holder: String, action: String)?
    /// Redis lost the fleet's keys (our lease with them): takes wait until our orchestrator takes the lease back.
    var awaitingReclaim = false
    /// `orchestrator pause`: take no job while the queue is in the paused set (checked every second).
    var isPaused = false

    /// `fence`: the slot lease its orchestrator passed at spawn (`LeaseFence.fromEnvironment`); nil takes without a check.
    public init(settings: WorkerSettings, link: RedisLink, runner: JobRunner, reaper: Reaper? = nil, fence: LeaseFence? = nil, logger: Logger) {
        self.settings = settings
        self.reaper = reaper
        self.link = link
        self.runner = runner
        self.logger = logger
        workerID = QueueKeys.workerID(queue: settings.queue, slot: settings.slot, host: host, pid: getpid())
        queue = RedisJobQueue(redis: link.connection, keys: QueueKeys(prefix: settings.job.prefix, queue: settings.queue), workerID: workerID, fence: fence)
        outcomes = OutcomeWriter(link: link, queue: queue, logger: logger)
    }

    var drainRequested: Bool { rpa_signal_count() > 0 }

    /// Runs until drained or recycled; returns the exit code.
    public func run() -> Int32 {
        runner.stderrLine = { [logger, weak self] line in
            var metadata: Logger.Metadata = ["line": "\(line)"]
            if let id = self?.currentJobID { metadata["job.id"] = "\(id)" }
            logger.info("\(LogEvents.handlerStderr)", metadata: metadata)
        }
        heartbeat(force: true)
        housekeeping()
        logger.info("\(LogEvents.workerReady)", metadata: ["worker.id": "\(workerID)", "queue": "\(settings.queue)",
                                                         "slot": "\(settings.slot)", "mode": "\(settings.job.handlerMode.rawValue)"])
        let reason = loop()
        if reason == .leaseLost, let loss = leaseLoss, let fence = queue.fence { logLeaseLost(loss, fence) }
        logger.info("\(LogEvents.workerExiting)", metadata: ["worker.id": "\(workerID)", "reason": "\(reason.rawValue)",
                                                           "jobs_done": "\(jobsDone)", "exit": "\(reason.exitCode)"])
        runner.shutdown()
        flushDurations()
        _ = try? link.perform { c throws(RedisError) in try c.send(["DEL", RedisArg(queue.keys.heartbeat(workerID))]) }
        return reason.exitCode
    }

    /// Takes and runs jobs until a stop reason comes up; returns it.
    private func loop() -> WorkerStopReason {
        while true {
            if let stop = stopReason() {
                // A job taken with the last result but not started goes back to the queue untouched.
                if prefetched != nil { outcomes.putBack() }
                return stop
            }
            housekeeping()
            reaper?.reap()
            runner.idle()
            if let next = prefetched {
                prefetched = nil
                process(next)
                continue
            }
            if isPaused { usleep(200_000); continue }
            switch nextJob() {
            case .stop(let stop): return stop
            case .none: continue
            case .job(let payload): process(payload)
            }
        }
    }

    private enum Take { case job([UInt8]), none, stop(WorkerStopReason) }

    /// One take: the job, nothing (empty queue, an outage, a refusal; the loop goes round), or a stop.
    private func nextJob() -> Take {
        let popped: [UInt8]?
        do {
            popped = try takeOrBlock()
        } catch {
            if drainRequested, let stop = stopReason() {
                // Woken by the signal. The server may have moved a job just before: put it back.
                outcomes.putBack()
                return .stop(stop)
            }
            if !error.isRetryable {
                if queueError != "\(error)" {
                    logger.error("\(LogEvents.queueError)", metadata: ["key": "\(refusedPopKey(error))", "error": "\(error)", "action": "retrying every second"])
                }
                queueError = "\(error)"
                usleep(1_000_000)
            }
            link.waitForNextAttempt()
            return .none
        }
        if queueError != nil {
            logger.info("queue.readable", metadata: ["key": "\(queue.keys.pending)"])
            queueError = nil
        }
        guard let payload = popped else { return .none }
        if let stop = stopReason(), stop == .drainRequested || stop == .orphaned {
            // Popped at the same moment as the signal: put it back untouched, never drop it.
            outcomes.putBack()
            return .stop(stop)
        }
        return .job(payload)
    }

    /// Working through a backlog: a non-blocking take (LMOVE, or the fenced take script). The
    /// queue empty: say so (heartbeat idle, durations flushed), then block in BLMOVE; a fenced
    /// worker checks its lease first (the take), blocks no longer than the lease's margin, and
    /// confirms the lease after a blocking take. A refusal sets `leaseLoss` and takes nothing.
    private func takeOrBlock() throws(RedisError) -> [UInt8]? {
        var wait = Heartbeat.idleBlock
        if !queueWasEmpty || queue.fence != nil {
            let take: FencedTake? = try link.perform(expectedLoss: { drainRequested }) { _ throws(RedisError) in
                drainRequested ? nil : try queue.take()
            }
            guard let take else { return nil }
            if let holder = take.lostTo {
                if holder == LeaseFence.keysLost { waitForReclaim(); return nil }
                leaseLoss = (holder, "took no job; exiting")
                return nil
            }
            leaseConfirmed()
            if let job = take.job { queueWasEmpty = false; return job }
            if let ms = take.leaseMilliseconds { wait = min(wait, .milliseconds(max(ms, 10))) }
            if !queueWasEmpty { settle() }
        }
        let popped: [UInt8]? = try link.perform(expectedLoss: { drainRequested }) { c throws(RedisError) in
            // A TERM now shuts this socket down, so an idle worker drains in milliseconds.
            rpa_set_wakeup_fd(c.socketFD)
            defer { rpa_set_wakeup_fd(-1) }
            if drainRequested { return nil }
            return try queue.pop(timeout: wait)
        }
        queueWasEmpty = popped == nil
        guard let element = popped, queue.fence != nil else { return popped }
        // The job is in our processing list: confirm through outages; an answer that never comes runs it.
        if case .success(let holder?)? = link.performRetrying(while: { !drainRequested }, { _ throws(RedisError) in try queue.confirm(element) }) {
            if holder == LeaseFence.keysLost { waitForReclaim(); return nil }  // the job is back at the front, untouched
            leaseLoss = (holder, "put the job it had just taken back untouched at the front of the queue; exiting")
            return nil
        }
        return element
    }

    func stopReason() -> WorkerStopReason? {
        if leaseLoss != nil { return .leaseLost }
        if settings.job.maxWorkerRSSMB > 0 && memoryAfterJobs.jobs != jobsDone {
            memoryAfterJobs = (jobsDone, ProcessTree.memory(of: getpid()).pssBytes)  // once per job
        }
        return WorkerPolicy.stopReason(drainRequested: drainRequested, parentPID: getppid(), expectedParent: settings.orchestratorPID,
                                       jobsDone: jobsDone, maxJobs: settings.job.maxJobsPerWorker,
                                       treeMemoryBytes: memoryAfterJobs.bytes, maxRSSMB: settings.job.maxWorkerRSSMB)
    }

    func process(_ element: [UInt8]) {
        let job = ClaimedJob(element: element)
        if job.attempt > settings.job.maxAttempts {
            // Only a dead worker's requeue leaves a job here: the attempts all died with their worker.
            let last = job.previousError.isEmpty ? "the worker running the last one died (killed, crashed or out of memory)" : job.previousError
            let reason = "gave up after \(job.attempt - 1) attempt(s): \(last)"
            finish(job, element, HandlerOutcome.failure(reason), attempt: job.attempt - 1, started: WallClock.nowMilliseconds(), ran: false)
            return
        }
        state = .busy
        currentJobID = job.id
        defer { currentJobID = nil }
        let started = WallClock.nowMilliseconds()
        jobStartedAt = started
        jobClockStart = clock.now
        logger.debug("\(LogEvents.jobStart)", metadata: ["job.id": "\(job.id)", "attempt": "\(job.attempt)", "bytes": "\(job.payload.count)"])
        var outcome = runner.run(job: job, queue: settings.queue, deadline: clock.now + settings.job.jobTimeout) {
            // A job past `busyAfter` shows busy with its start time (for `status` and stuck-job alerts).
            let shownStart = lastFullBeat?.jobStartedAt
            heartbeat(force: shownStart != started && clock.now - jobClockStart! >= Heartbeat.busyAfter)
        }
        if settings.job.outputIsJSON, outcome.outputJSON == nil, !outcome.outputTruncated, !outcome.output.isEmpty,
           let value = try? JSONDecoder().decode(JSONValue.self, from: Data(outcome.output)) {
            outcome.outputJSON = value  // `--output json`: stdout that is one JSON value is stored as JSON
            outcome.output = []
        }
        if outcome.timedOut, let error = outcome.error {
            outcome.error = error.replacingOccurrences(of: "timed out", with: "timed out after \(formatDuration(settings.job.jobTimeout))")
        }
        jobsDone += 1
        finish(job, element, outcome, attempt: job.attempt, started: started)
        jobStartedAt = nil
        jobClockStart = nil
        // Still busy (the backlog goes on) until a pop finds the queue empty; a long job's start
        // time is cleared from the heartbeat now.
        if lastFullBeat?.jobStartedAt != nil { heartbeat(force: true) }
        if durationsFlushedAt.map({ clock.now - $0 >= Heartbeat.durationsFlush }) ?? true { flushDurations() }
    }
}
