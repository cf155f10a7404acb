import CShims
import Foundation
import Logging

/// Heartbeat, pause check, standalone retries and recovery, health file.
extension WorkerLoop {
    /// Heartbeat (every `Heartbeat.refresh`, or now when forced); for a standalone worker also
    /// due retries and the paused check (every `Heartbeat.housekeepingPeriod`) and abandoned
    /// processing lists (at start and every `Heartbeat.recoveryPeriod`).
    func housekeeping() {
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
    func checkPaused() {
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

    func heartbeat(force: Bool) {
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
    func touchHealthFile() {
        guard !settings.healthFile.isEmpty else { return }
        if utimensat(AT_FDCWD, settings.healthFile, nil, 0) != 0 {
            let fd = open(settings.healthFile, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
            if fd >= 0 { close(fd) }
        }
    }
}
