import CShims
import Foundation
import Logging

/// Writing a job's outcome: results, failures, durations.
extension WorkerLoop {
    /// The queue is empty: the heartbeat says idle, and the durations counted so far reach the stats.
    func settle() {
        state = .idle
        if lastFullBeat?.state != .idle { heartbeat(force: true) }
        flushDurations()
    }

    func record(durationMilliseconds ms: Int64) {
        QueueStats.add(durationMilliseconds: ms, to: &durations)
    }

    /// Adds the counted durations to the stats hash (kept for the next try if Redis does not answer).
    func flushDurations() {
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

    func finish(_ job: ClaimedJob, _ element: [UInt8], _ outcome: HandlerOutcome, attempt: Int, started: Int64, ran: Bool = true) {
        let finished = WallClock.nowMilliseconds()
        if ran { record(durationMilliseconds: finished - started) }
        let record = resultRecord(job, outcome, attempt: attempt, started: started, finished: finished)
        let byID = ResultByID(job: job, prefix: settings.job.prefix, ttl: settings.job.resultTTL)
        if outcome.status == .ok {
            complete(job, element, record: record, byID: byID, attempt: attempt, elapsed: finished - started)
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
                   metadata: ["job.id": "\(job.id)", "attempt": "\(attempt)", "ms": "\(finished - started)",
                              "then": "\(written?.outcome.rawValue ?? outcomes.unwritten)", "error": "\(String(error.prefix(500)))"])
    }

    /// Writes a succeeded job's result and acknowledges it, taking the next job in the same round
    /// trip (for a fenced worker, only while its slot lease is still its own).
    private func complete(_ job: ClaimedJob, _ element: [UInt8], record: [UInt8], byID: ResultByID?, attempt: Int, elapsed: Int64) {
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
        if let holder = done.lostTo, holder == LeaseFence.keysLost {
            queueWasEmpty = false  // the next take (through the fence) waits for the lease
        } else if let holder = done.lostTo {
            leaseLoss = (holder, "finished its job (result written), took no other; exiting")
        } else if takeNext {
            prefetched = tries == 1 ? done.next : (try? link.perform { _ throws(RedisError) in try queue.held() }) ?? nil
            if prefetched == nil && tries == 1 { queueWasEmpty = true; settle() }
        }
        if !done.held, !done.skipped.contains(where: { $0.key == queue.processingKey }) {
            logger.warning("job.duplicate", metadata: ["job.id": "\(job.id)",
                                                       "why": "the job was recovered by another process while Redis was unreachable; it may run twice"])
        }
        logger.info("\(LogEvents.jobDone)", metadata: ["job.id": "\(job.id)", "attempt": "\(attempt)", "ms": "\(elapsed)"])
    }

    /// The fence found our lease missing because Redis lost the fleet's keys (restarted without
    /// persistence): take nothing, say so once, and look again shortly; our orchestrator takes the
    /// lease back at its next renewal (or the fence says lost after the reclaim window).
    func waitForReclaim() {
        if !awaitingReclaim {
            awaitingReclaim = true
            logger.warning("lease.waiting", metadata: ["why": "Redis lost the fleet's keys (restarted without persistence?), this worker's slot lease with them",
                                                       "action": "taking no job until its orchestrator takes the lease back"])
        }
        usleep(250_000)
    }

    /// A take went through the fence: the lease is ours (again).
    func leaseConfirmed() {
        guard awaitingReclaim else { return }
        awaitingReclaim = false
        logger.info("lease.reclaimed", metadata: ["action": "taking jobs again"])
    }

    /// `lease.lost`: the one line a fenced worker logs when a take found its slot lease not its own.
    func logLeaseLost(_ loss: (holder: String, action: String), _ fence: LeaseFence) {
        let slot = fence.key.split(separator: ":").last.map(String.init) ?? fence.key
        let holder = loss.holder.isEmpty ? "none (expired)" : loss.holder == fence.holder ? "this host (expiring, not renewed)"
            : LeaseValue(encoded: loss.holder).map { "\($0.host) (instance \($0.instance))" } ?? loss.holder
        logger.error("lease.lost", metadata: ["slot": "\(slot)", "holder": "\(holder)", "action": "\(loss.action)",
                                              "exit": "\(WorkerStopReason.leaseLost.exitCode)"])
    }

    /// Writes an outcome through `OutcomeWriter`: held and retried while the server refuses it,
    /// with the heartbeat kept alive; nil when the worker must stop first.
    func writeOutcome<T>(_ job: ClaimedJob, _ body: () throws(RedisError) -> T) -> T? {
        outcomes.write(jobID: job.id, keepAlive: { heartbeat(force: false) }, mustStop: {
            let stop = stopReason()
            return stop == .drainRequested || stop == .orphaned
        }, body)
    }

    /// Which key a refused pop names: our processing list when it is the one of the wrong type, else the queue.
    func refusedPopKey(_ error: RedisError) -> String {
        guard error.isWrongType else { return queue.keys.pending }
        let type = try? link.perform { c throws(RedisError) in try c.send(["TYPE", RedisArg(queue.processingKey)]).text }
        return type.map { $0 != "none" && $0 != "list" } == true ? queue.processingKey : queue.keys.pending
    }

    func resultRecord(_ job: ClaimedJob, _ outcome: HandlerOutcome, attempt: Int, started: Int64, finished: Int64) -> [UInt8] {
        ResultRecord(queue: settings.queue, payload: job.payload, status: outcome.status, output: outcome.recordOutput,
                     outputTruncated: outcome.outputTruncated, error: outcome.error, attempts: attempt, worker: workerID, jobID: job.id,
                     startedAt: WallClock.iso8601(milliseconds: started), finishedAt: WallClock.iso8601(milliseconds: finished)).encoded
    }
}
