import Foundation
import Logging
import Synchronization

/// `--alert-command` processes running now, with their handles: registered by the control loop
/// after the start, removed by their termination handlers (other threads), killed from a timer.
/// An exit may be handled before the start is registered (a command ending within microseconds):
/// it is remembered, and the late registration then keeps nothing. A command is signalled only
/// through its handle while registered: never once its exit was handled (its pid may be anyone's).
public final class HelperSet: Sendable {
    private struct State {
        var running: [pid_t: OwnedProcess?] = [:]
        /// Exits handled before their start was registered.
        var exitedEarly: Set<pid_t> = []
    }
    private let state = Mutex(State())

    /// A command just started, and its handle (nil when none could be opened).
    func started(_ pid: pid_t, _ handle: OwnedProcess?) {
        let late = state.withLock { s in
            if s.exitedEarly.remove(pid) != nil { return true }
            s.running[pid] = handle
            return false
        }
        if late { handle?.release() }
    }

    /// Its exit was handled (termination handler): nothing is signalled through its handle any more.
    func exited(_ pid: pid_t) {
        state.withLock { s in
            guard let entry = s.running.removeValue(forKey: pid) else {
                s.exitedEarly.insert(pid)
                return
            }
            entry?.release()
        }
    }

    func contains(_ pid: pid_t) -> Bool { state.withLock { $0.running[pid] != nil } }

    /// SIGKILLs the command and its group if it is still registered and not reaped. True when it was.
    func kill(_ pid: pid_t) -> Bool {
        state.withLock { s in
            guard let entry = s.running[pid], let handle = entry else { return false }
            return handle.killWithGroup()
        }
    }
}

/// The alert rules and their delivery: owns the `AlertEngine`, the active set last written to
/// Redis and the `--alert-command` processes. For each notification: a seed-style log line, an
/// event, a PUBLISH on `orchestrator:<prefix>alerts`, and `--alert-command`; the active set in
/// Redis (for `status` and `orchestrator alerts`) when it changed. Performs no Redis I/O itself:
/// it returns the commands, and is told when they were written.
final class AlertDelivery {
    private(set) var engine: AlertEngine
    /// `--alert-command` processes running now: our children, but not orphans to sweep.
    let helpers = HelperSet()
    private let settings: OrchestratorSettings
    private let host: String
    private let logger: Logger
    private let baseEnvironment: [String: String]
    /// The active alerts last written to Redis (to write only changes), and the set being written.
    private var published: [String] = []
    private var writing: [String] = []

    init(settings: OrchestratorSettings, host: String, logger: Logger, environment: [String: String]) {
        self.settings = settings
        self.engine = AlertEngine(settings: settings.alerts)
        self.host = host
        self.logger = logger
        self.baseEnvironment = environment
    }

    /// Runs the rules on this poll's observations; logs, records and runs the command of every
    /// notification; returns the Redis commands to write (PUBLISH, and the active set if it changed).
    func evaluate(now: ContinuousClock.Instant, redisReadable: Bool, queues observed: [AlertQueueObservation],
                  events: inout EventLog) -> [[RedisArg]] {
        let notifications = engine.evaluate(now: now, redisReadable: redisReadable, queues: observed,
                                            jobTimeout: settings.job.jobTimeout, memoryLimitBytes: settings.job.maxWorkerRSSMB * 1_048_576)
        var commands: [[RedisArg]] = []
        for n in notifications {
            let level: Logger.Level = n.kind == .resolved ? .info : (n.rule.isCritical ? .critical : .warning)
            logger.log(level: level, "\(n.line)", metadata: ["event": "alert.\(n.kind.rawValue)", "rule": "\(n.rule.rawValue)"])
            events.record("alert_\(n.kind.rawValue)", [("rule", n.rule.rawValue), ("queue", n.queue), ("message", n.message)])
            let json = alertJSON(n, now: now)
            commands.append(["PUBLISH", RedisArg(QueueKeys.alerts(prefix: settings.job.prefix)), RedisArg(json)])
            if let command = settings.alertCommand { runAlertCommand(command, json: json) }
        }
        writing = engine.active.map { a in
            alertJSON(AlertNotification(kind: .fired, rule: a.rule, queue: a.queue, message: a.message, since: a.since), now: now)
        }
        if writing != published { commands += activeSetCommands(writing) }
        return commands
    }

    /// The commands `evaluate` returned were written: the active set in Redis is the one they carried.
    func written() { published = writing }

    /// DEL, then HSET of every active alert (`rule:queue` → its JSON).
    private func activeSetCommands(_ active: [String]) -> [[RedisArg]] {
        let key = RedisArg(QueueKeys.alerts(prefix: settings.job.prefix))
        var hset: [RedisArg] = ["HSET", key]
        for (a, json) in zip(engine.active, active) { hset += [RedisArg("\(a.rule.rawValue):\(a.queue)"), RedisArg(json)] }
        return hset.count > 2 ? [["DEL", key], hset] : [["DEL", key]]
    }

    /// `{"rule","queue","state","message","since","at","severity"}`: what the stream, PUBLISH,
    /// the active set and `--alert-command` carry (times as ISO 8601 UTC).
    func alertJSON(_ n: AlertNotification, now: ContinuousClock.Instant) -> String {
        let wall = WallClock.nowMilliseconds()
        var w = JSONObjectWriter()
        w.string("rule", n.rule.rawValue)
        w.string("queue", n.queue)
        w.string("state", n.kind.rawValue)
        w.string("severity", n.rule.isCritical ? "critical" : "warning")
        w.string("message", n.message)
        w.string("since", WallClock.iso8601(milliseconds: wall - (now - n.since).milliseconds))
        w.string("at", WallClock.iso8601(milliseconds: wall))
        w.string("host", host)
        return w.text
    }

    /// Runs `--alert-command` with the alert JSON on stdin, in its own process group, without any
    /// of our secrets (Redis password and URL, HTTP token), killed after 10 s; never waited for by
    /// the control loop; a failure is logged.
    func runAlertCommand(_ command: String, json: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        var env = ChildEnvironment.withoutSecrets(baseEnvironment)
        env["REDIS_URL"] = nil
        process.environment = env
        let input = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        let logger = self.logger, helpers = self.helpers
        process.terminationHandler = { p in
            helpers.exited(p.processIdentifier)
            let status = TerminationStatus(p)
            if !status.isSuccess {
                let tail = String(decoding: errors.fileHandleForReading.availableData.suffix(500), as: UTF8.self)
                logger.error("alert.command_failed", metadata: ["status": "\(status)", "stderr": "\(tail.trimmingCharacters(in: .whitespacesAndNewlines))"])
            }
        }
        do {
            try FoundationProcessLauncher.runWithEmptySignalMask(process)
        } catch {
            logger.error("alert.command_failed", metadata: ["error": "\(error)"])
            return
        }
        let pid = process.processIdentifier
        helpers.started(pid, OwnedProcess(child: pid))
        DispatchQueue.global().async {
            input.fileHandleForWriting.write(Data(json.utf8))
            try? input.fileHandleForWriting.close()
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + 10) {
            // Through its pidfd, while registered: once Foundation has reaped it, its pid may belong to anyone.
            if helpers.kill(pid) {
                logger.error("alert.command_failed", metadata: ["why": "still running after 10 s: killed", "pid": "\(pid)"])
            }
        }
    }
}

extension AlertDelivery {
    /// Each queue as the alert rules see it, from the Supervisor's queue states, worker table and last reading.
    static func observations(settings: OrchestratorSettings, states: [String: SupervisedQueue], workers: [SupervisedWorker], reading: PollReading,
                             now: ContinuousClock.Instant) -> [AlertQueueObservation] {
        settings.queues.map { q in
            observation(q, state: states[q] ?? SupervisedQueue(), workers: workers.filter { $0.queue == q }, stats: reading.stats[q] ?? [:],
                        prefix: settings.job.prefix, crashLoopWindow: settings.alerts.crashLoopWindow, now: now)
        }
    }

    /// One queue as the alert rules see it: from its state, its workers and its stats hash.
    static func observation(_ q: String, state: SupervisedQueue, workers mine: [SupervisedWorker], stats: [String: String], prefix: String,
                            crashLoopWindow: Duration, now: ContinuousClock.Instant) -> AlertQueueObservation {
        let wall = WallClock.nowMilliseconds()
        return AlertQueueObservation(
            name: q, pending: state.pending, limited: state.target.limitedBy != nil && state.pending > 0,
            doneTotal: QueueStats(fields: stats).done, deadTotal: QueueStats(fields: stats).dead,
            busyWorkers: mine.filter(\.isBusy).count,
            crashesInWindow: state.backoff.recent.filter { now - $0 < crashLoopWindow }.count,
            oldestJobAgeSeconds: Double(mine.filter(\.isBusy).compactMap(\.jobStartedAt).map { wall - $0 }.max() ?? 0) / 1000,
            workerMemory: Dictionary(mine.map { ($0.slot, $0.pssBytes) }, uniquingKeysWith: max),
            // A key of the wrong type, not a server still loading its data (LOADING, BUSY…: waited out).
            unreadable: state.unreadable.flatMap { RedisError.server($0).isTransient ? nil : (key: prefix + q, reason: $0) })
    }
}
