import CShims
import Foundation
import Logging

/// One worker process: take a job (BLMOVE into our own processing list), run it in the handler,
/// push the result and acknowledge, until told to stop. Synchronous on purpose: one thread owns
/// the Redis connection and the handler processes.
public final class WorkerLoop {
    public let settings: WorkerSettings
    public let workerID: String
    private let link: RedisLink
    private let queue: RedisJobQueue
    /// Writes results, retries and dead letters; keeps the job held when the server refuses.
    private let outcomes: OutcomeWriter
    private let runner: JobRunner
    /// Reaps what the handlers leave (a killed browser's processes become our zombies).
    private let reaper: Reaper?
    private let logger: Logger
    private let clock = ContinuousClock()
    /// The orchestrator's `--host-id` (the hostname when run alone).
    private let host = ProcessInfo.processInfo.environment["RPA_HOST_ID"].flatMap { $0.isEmpty ? nil : $0 } ?? WallClock.hostName()
    private let startedAt = WallClock.nowMilliseconds()
    private var jobsDone = 0
    private var heartbeatTimer = Every(Heartbeat.refresh)
    /// The last time every heartbeat field was written, and what it said.
    private var lastFullBeat: (state: WorkerState, jobsDone: Int, jobStartedAt: Int64?, at: ContinuousClock.Instant)?
    /// When the running job started (monotonic), to mark it busy once it passes `Heartbeat.busyAfter`.
    private var jobClockStart: ContinuousClock.Instant?
    /// The last pop found the queue empty: block at once next time (no LMOVE first).
    private var queueWasEmpty = true
    /// Job durations not yet added to the stats hash (`JobDuration` fields and `dur_ms_sum`).
    private var durations: [String: Int64] = [:]
    private var durationsFlushedAt: ContinuousClock.Instant?
    /// The next job, taken in the same round trip as the last one's result (already in our processing list).
    private var prefetched: [UInt8]?
    private var recoveryTimer = Every(Heartbeat.recoveryPeriod)
    /// `link.outagesEnded` when last looked at: after an outage live owners need a moment to write
    /// their expired heartbeats again, so the next recovery waits a full period.
    private var outagesSeen = 0
    private var housekeepingTimer = Every(Heartbeat.housekeepingPeriod)
    private var state = WorkerState.idle
    private var jobStartedAt: Int64?
    /// The job running now, for the handler's stderr lines.
    private var currentJobID: String?
    private var lastMemory = ProcessTree.Memory(rssBytes: 0, pssBytes: 0, processes: 1)
    /// The process tree's proportional memory (PSS) after the last job, for `--max-worker-rss-mb`;
    /// measured once per job.
    private var memoryAfterJobs = (jobs: 0, bytes: 0)
    /// The queue error being reported (WRONGTYPE…): logged when it starts and when it ends, not every second.
    private var queueError: String?
    /// `orchestrator pause`: take no job while the queue is in the paused set (checked every second).
    private var isPaused = false

    public init(settings: WorkerSettings, link: RedisLink, runner: JobRunner, reaper: Reaper? = nil, logger: Logger) {
        self.settings = settings
        self.reaper = reaper
        self.link = link
        self.runner = runner
        self.logger = logger
        workerID = QueueKeys.workerID(queue: settings.queue, slot: settings.slot, host: host, pid: getpid())
        queue = RedisJobQueue(redis: link.connection, keys: QueueKeys(prefix: settings.job.prefix, queue: settings.queue), workerID: workerID)
        outcomes = OutcomeWriter(link: link, queue: queue, logger: logger)
    }

    private var drainRequested: Bool { rpa_signal_count() > 0 }

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
        var reason: WorkerStopReason
        while true {
            if let stop = stopReason() {
                // A job taken with the last result but not started goes back to the queue untouched.
                if prefetched != nil { outcomes.putBack() }
                reason = stop
                break
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
            var popped: [UInt8]?
            do {
                // Working through a backlog: LMOVE (no block). The queue empty: say so (heartbeat
                // idle, durations flushed), then block in BLMOVE.
                if !queueWasEmpty {
                    popped = try link.perform(expectedLoss: { drainRequested }) { _ throws(RedisError) in
                        drainRequested ? nil : try queue.tryPop()
                    }
                    if popped == nil { settle() }
                }
                if popped == nil {
                    popped = try link.perform(expectedLoss: { drainRequested }) { c throws(RedisError) in
                        // A TERM now shuts this socket down, so an idle worker drains in milliseconds.
                        rpa_set_wakeup_fd(c.socketFD)
                        defer { rpa_set_wakeup_fd(-1) }
                        if drainRequested { return nil }
                        return try queue.pop(timeout: Heartbeat.idleBlock)
                    }
                }
                queueWasEmpty = popped == nil
            } catch {
                if drainRequested, let stop = stopReason() {
                    // Woken by the signal. The server may have moved a job just before: put it back.
                    outcomes.putBack()
                    reason = stop
                    break
                }
                if !error.isRetryable {
                    if queueError != "\(error)" {
                        logger.error("\(LogEvents.queueError)", metadata: ["key": "\(refusedPopKey(error))", "error": "\(error)", "action": "retrying every second"])
                    }
                    queueError = "\(error)"
                    usleep(1_000_000)
                }
                link.waitForNextAttempt()
                continue
            }
            if queueError != nil {
                logger.info("queue.readable", metadata: ["key": "\(queue.keys.pending)"])
                queueError = nil
            }
            guard let payload = popped else { continue }
            if let stop = stopReason(), stop == .drainRequested || stop == .orphaned {
                // Popped at the same moment as the signal: put it back untouched, never drop it.
                outcomes.putBack()
                reason = stop
                break
            }
            process(payload)
        }
        logger.info("\(LogEvents.workerExiting)", metadata: ["worker.id": "\(workerID)", "reason": "\(reason.rawValue)",
                                                           "jobs_done": "\(jobsDone)", "exit": "\(reason.exitCode)"])
        runner.shutdown()
        flushDurations()
        _ = try? link.perform { c throws(RedisError) in try c.send(["DEL", RedisArg(queue.keys.heartbeat(workerID))]) }
        return reason.exitCode
    }

    private func stopReason() -> WorkerStopReason? {
        if settings.job.maxWorkerRSSMB > 0 && memoryAfterJobs.jobs != jobsDone {
            memoryAfterJobs = (jobsDone, ProcessTree.memory(of: getpid()).pssBytes)  // once per job
        }
        return WorkerPolicy.stopReason(drainRequested: drainRequested, parentPID: getppid(), expectedParent: settings.orchestratorPID,
                                       jobsDone: jobsDone, maxJobs: settings.job.maxJobsPerWorker,
                                       treeMemoryBytes: memoryAfterJobs.bytes, maxRSSMB: settings.job.maxWorkerRSSMB)
    }

    private func process(_ element: [UInt8]) {
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

    /// The queue is empty: the heartbeat says idle, and the durations counted so far reach the stats.
    private func settle() {
        state = .idle
        if lastFullBeat?.state != .idle { heartbeat(force: true) }
        flushDurations()
    }

    private func record(durationMilliseconds ms: Int64) {
        durations[JobDuration.field(milliseconds: ms), default: 0] += 1
        durations["dur_ms_sum", default: 0] += ms
    }

    /// Adds the counted durations to the stats hash (kept for the next try if Redis does not answer).
    private func flushDurations() {
        durationsFlushedAt = clock.now
        guard !durations.isEmpty else { return }
        let counts = durations
        let refused: String?
        do { refused = try link.perform { _ throws(RedisError) in try queue.addDurations(counts) } } catch { return }
        durations.removeAll()
        if let refused {
            outcomes.faults.failed(queue.keys.stats, error: refused, skipped: "job durations not counted", logger: logger)
        } else {
            outcomes.faults.succeeded(queue.keys.stats, logger: logger)
        }
    }

    private func finish(_ job: ClaimedJob, _ element: [UInt8], _ outcome: HandlerOutcome, attempt: Int, started: Int64, ran: Bool = true) {
        let finished = WallClock.nowMilliseconds()
        if ran { record(durationMilliseconds: finished - started) }
        let record = resultRecord(job, outcome, attempt: attempt, started: started, finished: finished)
        let byID = ResultByID(job: job, prefix: settings.job.prefix, ttl: settings.job.resultTTL)
        let elapsed = "\(finished - started)"
        if outcome.status == .ok {
            // Take the next job in the same round trip, unless this worker is about to stop (or the
            // queue ran empty last time). Only on the first try: a retry after a lost reply looks
            // in the processing list for what the first try may have taken.
            let takeNext = !queueWasEmpty && !isPaused && stopReason() == nil
            var tries = 0
            guard let done = writeOutcome(job, { () throws(RedisError) in
                tries += 1
                return try queue.complete(record: record, element: element, takeNext: takeNext && tries == 1, byID: byID)
            }) else { return }  // not written: put back or left held, and logged
            outcomes.report(skipped: done.skipped, checked: [queue.keys.stats, queue.processingKey])
            if takeNext {
                prefetched = tries == 1 ? done.next : (try? link.perform { _ throws(RedisError) in try queue.held() }) ?? nil
                if prefetched == nil && tries == 1 { queueWasEmpty = true; settle() }
            }
            if !done.held, !done.skipped.contains(where: { $0.key == queue.processingKey }) {
                logger.warning("job.duplicate", metadata: ["job.id": "\(job.id)",
                                                           "why": "the job was recovered by another process while Redis was unreachable; it may run twice"])
            }
            logger.info("\(LogEvents.jobDone)", metadata: ["job.id": "\(job.id)", "attempt": "\(attempt)", "ms": "\(elapsed)"])
            return
        }
        let error = outcome.error ?? "failed"
        let plan = WorkerPolicy.retryPlan(attempt: attempt, maxAttempts: settings.job.maxAttempts, retryDelay: settings.job.retryDelay, nowMilliseconds: finished)
        let dead = DeadLetter(queue: settings.queue, payload: job.payload, error: error, attempts: attempt, worker: workerID,
                              failedAt: WallClock.iso8601(milliseconds: finished), jobID: job.id)
        var due: Int64 = 0
        if case .retryAt(let ms) = plan { due = ms }
        let written = writeOutcome(job) { () throws(RedisError) in
            try queue.fail(job, error: error, attempt: attempt, maxAttempts: settings.job.maxAttempts,
                           deadEntry: dead.encoded, record: record, retryAtMilliseconds: due,
                           tag: "\(workerID):\(jobsDone):\(finished)", byID: byID)
        }
        if let written { outcomes.report(skipped: written.skipped, checked: [queue.keys.stats]) }
        logger.log(level: plan == .deadLetter ? .error : .warning, "\(LogEvents.jobFailed)",
                   metadata: ["job.id": "\(job.id)", "attempt": "\(attempt)", "ms": "\(elapsed)",
                              "then": "\(written?.outcome.rawValue ?? outcomes.unwritten)", "error": "\(String(error.prefix(500)))"])
    }

    /// Writes an outcome through `OutcomeWriter`: held and retried while the server refuses it,
    /// with the heartbeat kept alive; nil when the worker must stop first.
    private func writeOutcome<T>(_ job: ClaimedJob, _ body: () throws(RedisError) -> T) -> T? {
        outcomes.write(jobID: job.id, keepAlive: { heartbeat(force: false) }, mustStop: {
            let stop = stopReason()
            return stop == .drainRequested || stop == .orphaned
        }, body)
    }

    /// Which key a refused pop names: our processing list when it is the one of the wrong type, else the queue.
    private func refusedPopKey(_ error: RedisError) -> String {
        guard error.isWrongType else { return queue.keys.pending }
        let type = try? link.perform { c throws(RedisError) in try c.send(["TYPE", RedisArg(queue.processingKey)]).text }
        return type.map { $0 != "none" && $0 != "list" } == true ? queue.processingKey : queue.keys.pending
    }

    private func resultRecord(_ job: ClaimedJob, _ outcome: HandlerOutcome, attempt: Int, started: Int64, finished: Int64) -> [UInt8] {
        ResultRecord(queue: settings.queue, payload: job.payload, status: outcome.status, output: outcome.recordOutput,
                     outputTruncated: outcome.outputTruncated, error: outcome.error, attempts: attempt, worker: workerID, jobID: job.id,
                     startedAt: WallClock.iso8601(milliseconds: started), finishedAt: WallClock.iso8601(milliseconds: finished)).encoded
    }

    /// Heartbeat (every `Heartbeat.refresh`, or now when forced); for a standalone worker also
    /// due retries and the paused check (every `Heartbeat.housekeepingPeriod`) and abandoned
    /// processing lists (at start and every `Heartbeat.recoveryPeriod`).
    private func housekeeping() {
        let now = clock.now
        heartbeat(force: false)
        // Under an orchestrator, its poll promotes due retries, drains the workers of a paused
        // queue and requeues abandoned processing lists: a worker it supervises spends no Redis
        // command on those.
        guard settings.orchestratorPID == nil else { return }
        if housekeepingTimer.isDue(now) {
            do {
                try link.perform { _ throws(RedisError) in try queue.promoteDueRetries(nowMilliseconds: WallClock.nowMilliseconds()) }
                outcomes.faults.succeeded(queue.keys.retry, logger: logger)
            } catch {
                if !error.isRetryable {
                    outcomes.faults.failed(error.wrongTypeKey ?? queue.keys.retry, error: "\(error)",
                                           skipped: "due retries not promoted; they wait in \(queue.keys.retry)", logger: logger)
                }
            }
            checkPaused()
        }
        if link.outagesEnded != outagesSeen {
            outagesSeen = link.outagesEnded
            recoveryTimer.restart(at: now)
        }
        if recoveryTimer.isDue(now) {
            var refused: [(String, RedisError)] = []
            let moved = try? link.perform { _ throws(RedisError) in try queue.recoverAbandoned { refused.append(($0, $1)) } }
            for (list, error) in refused {  // the jobs stay in that list; retried every recovery period
                outcomes.faults.failed(error.wrongTypeKey ?? list, error: "\(error)", skipped: "abandoned jobs left in \(list); retried every 15 s", logger: logger)
            }
            if let moved, moved > 0 {
                logger.warning("\(LogEvents.jobRecovered)", metadata: ["jobs": "\(moved)", "why": "owner heartbeat expired"])
            }
        }
    }

    /// `orchestrator pause`: is our queue in the paused set? A set of the wrong type is reported once and read as not paused.
    private func checkPaused() {
        let key = QueueKeys.paused(prefix: settings.job.prefix)
        do {
            let paused = try link.perform { c throws(RedisError) in try c.send(["SISMEMBER", RedisArg(key), RedisArg(settings.queue)]).int }
            outcomes.faults.succeeded(key, logger: logger)
            guard let paused, (paused == 1) != isPaused else { return }
            isPaused = paused == 1
            state = isPaused ? .paused : .idle
            logger.info(isPaused ? "queue.paused" : "queue.resumed", metadata: ["queue": "\(settings.queue)"])
            heartbeat(force: true)
        } catch {
            if error.isRetryable { return }
            outcomes.faults.failed(key, error: "\(error)", skipped: "pause not checked; jobs are taken as if not paused", logger: logger)
        }
    }

    private func heartbeat(force: Bool) {
        let now = clock.now
        let due = heartbeatTimer.isDue(now)
        guard force || due else { return }
        let shown: WorkerState = drainRequested && state == .idle ? .draining : state
        let key = queue.keys.heartbeat(workerID)
        // Idle and unchanged: only extend the TTL (one command), unless the key is gone (Redis restarted).
        if !force, shown == .idle, let last = lastFullBeat, last.state == shown, last.jobsDone == jobsDone, now - last.at < Heartbeat.idleRewrite,
           (try? link.perform({ c throws(RedisError) in try c.send(["PEXPIRE", RedisArg(key), Heartbeat.ttlArg]).int })) == 1 {
            touchHealthFile()
            return
        }
        lastFullBeat = (shown, jobsDone, jobStartedAt, now)
        lastMemory = ProcessTree.memory(of: getpid())  // walks our own tree: on full writes only, never per job
        let beat = WorkerHeartbeat(
            worker: workerID, queue: settings.queue, slot: settings.slot, pid: getpid(), host: host,
            state: shown, jobStartedAt: jobStartedAt, jobsDone: jobsDone,
            memory: lastMemory, startedAt: startedAt, orchestratorPID: settings.orchestratorPID, handlerPID: runner.activePID)
        let commands = Heartbeat.commands(key: queue.keys.heartbeat(workerID), fields: beat.fields)
        if let replies = try? link.perform({ c throws(RedisError) in try c.pipeline(commands) }) {
            outcomes.faults.check(commands, replies, skipped: "heartbeat not written; jobs go on (this worker shows in no status)", logger: logger)
        }
        touchHealthFile()
    }

    /// The loop is alive: `worker --check` compares this file's time with now.
    private func touchHealthFile() {
        guard !settings.healthFile.isEmpty else { return }
        if utimensat(AT_FDCWD, settings.healthFile, nil, 0) != 0 {
            let fd = open(settings.healthFile, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
            if fd >= 0 { close(fd) }
        }
    }
}
