import Foundation

/// The orchestrator's whole configuration, resolved from flags, environment and defaults.
public struct OrchestratorSettings: Sendable {
    public var job: JobSettings
    public var queues: [String]
    /// Queue name → handler command.
    public var handlers: [String: String]
    public var policy: ScalingPolicy
    public var pollInterval: Duration
    public var summaryInterval: Duration
    public var drainTimeout: Duration
    public var logDir: String
    public var workerPath: String
    public var log = LogSettings()
    /// `--scaling adaptive`: the policy (nil: the fixed formula).
    public var adaptive: AdaptivePolicy?
    public var alerts = AlertSettings()
    public var alertCommand: String?
    public var eventsMax = OptionSpec.eventsMax.defaultInt
    /// nil: `--history-retention off`, no minute samples written (rates are still computed in memory).
    public var historyRetention: Duration? = OptionSpec.historyRetention.defaultDurationOrOff
    /// `--max-per-queue` was not given and its default was lowered to `--max-total`.
    public var maxPerQueueClamped = false
    /// `--host-id`, `--host-max-workers`, `--lease-ttl`.
    public var fleet = FleetSettings(hostID: WallClock.hostName(), hostMaxWorkers: 10_000)
    /// `--redis-notifications auto`: the leader may turn on keyspace notifications (off: it peeks).
    public var redisNotifications = true

    /// What the command line gave: option values by spec, and the repeatable queues and handlers.
    public struct Flags: Sendable {
        public var values = OptionValues()
        public var queues: [String] = []
        public var handlers: [String] = []
        public init() {}
    }

    public static func resolve(_ f: Flags, _ r: OptionResolver, defaultWorkerPath: String) throws(ConfigError) -> OrchestratorSettings {
        let v = f.values
        let job = try JobSettings.resolve(v, r)
        let queues = try QueueList.named(flags: f.queues, environment: r.environment) ?? QueueList.defaultQueues

        let handlers = try resolveHandlers(f.handlers, queues: queues, r)

        let (policy, clamped) = try scalingPolicy(v, r, queueCount: queues.count)
        let maxTotal = policy.maxTotal

        let logDir = try r.required(v, .logDir).text
        let workerPath = r.string(v, .workerPath) ?? defaultWorkerPath
        guard FileManager.default.isExecutableFile(atPath: workerPath) else {
            throw ConfigError(flag: "--worker-path", message: "'\(workerPath)' is not an executable file")
        }
        var settings = OrchestratorSettings(
            job: job, queues: queues, handlers: handlers, policy: policy,
            pollInterval: try r.duration(v, .pollInterval),
            summaryInterval: try r.duration(v, .interval),
            drainTimeout: try r.duration(v, .drainTimeout),
            logDir: logDir, workerPath: workerPath, log: try LogSettings.resolve(v, r), adaptive: try adaptivePolicy(v, r),
            alerts: try alertSettings(v, r), alertCommand: r.string(v, .alertCommand).flatMap { $0.trimmingSpaces.isEmpty ? nil : $0 },
            eventsMax: try r.int(v, .eventsMax), historyRetention: try r.durationOrOff(v, .historyRetention), maxPerQueueClamped: clamped,
            fleet: try FleetSettings.resolve(v, r, maxTotal: maxTotal))
        settings.redisNotifications = try r.required(v, .redisNotifications).text == "auto"
        return settings
    }

    /// The caps and the policy, checked against each other; `clamped`: the default
    /// `--max-per-queue` was lowered to `--max-total`.
    static func scalingPolicy(_ v: OptionValues, _ r: OptionResolver, queueCount: Int) throws(ConfigError) -> (ScalingPolicy, clamped: Bool) {
        let maxTotal = try r.int(v, .maxTotal)
        var maxPerQueue = try r.int(v, .maxPerQueue)
        // The default 10 must not make `--max-total 4` alone an error: clamp it, and say so.
        let clamped = !r.isGiven(v, .maxPerQueue) && maxPerQueue > maxTotal
        if clamped { maxPerQueue = maxTotal }
        let minPerQueue = try r.int(v, .minPerQueue)
        if maxPerQueue > maxTotal {
            throw ConfigError(flag: "--max-per-queue", message: "\(maxPerQueue) is above --max-total \(maxTotal)")
        }
        if minPerQueue > maxPerQueue {
            throw ConfigError(flag: "--min-per-queue", message: "\(minPerQueue) is above --max-per-queue \(maxPerQueue)")
        }
        if minPerQueue * queueCount > maxTotal {
            throw ConfigError(flag: "--min-per-queue", message: "\(minPerQueue) × \(queueCount) queues is above --max-total \(maxTotal)")
        }
        let policy = ScalingPolicy(
            jobsPerWorker: try r.int(v, .jobsPerWorker),
            minPerQueue: minPerQueue, maxPerQueue: maxPerQueue, maxTotal: maxTotal,
            scaleDownDelay: try r.duration(v, .scaleDownDelay))
        return (policy, clamped)
    }

    static func alertSettings(_ v: OptionValues, _ r: OptionResolver) throws(ConfigError) -> AlertSettings {
        var a = AlertSettings()
        a.repeatEvery = try r.duration(v, .alertRepeat)
        a.capReachedFor = try r.duration(v, .alertCapFor)
        a.redisDownFor = try r.duration(v, .alertRedisDownFor)
        a.deadLettersWindow = try r.duration(v, .alertDeadWindow)
        a.noProgressFor = try r.duration(v, .alertNoProgressFor)
        (a.crashLoopCount, a.crashLoopWindow) = try r.rate(v, .alertCrashLoop)
        a.stuckFraction = try r.fraction(v, .alertStuckAt)
        a.memoryFraction = try r.fraction(v, .alertMemoryAt)
        if let (list, source) = r.raw(v, .alertsDisable) {
            for name in list.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !name.isEmpty {
                if name == "all" { a.disabled.formUnion(AlertRule.allCases); continue }
                guard let rule = AlertRule(rawValue: name) else {
                    throw ConfigError(flag: source, message: "unknown rule '\(name)' (rules: \(AlertRule.allCases.map(\.rawValue).joined(separator: ", ")), or all)")
                }
                a.disabled.insert(rule)
            }
        }
        return a
    }

    static func adaptivePolicy(_ v: OptionValues, _ r: OptionResolver) throws(ConfigError) -> AdaptivePolicy? {
        let (mode, source) = try r.required(v, .scaling)
        switch mode.trimmingSpaces.lowercased() {
        case "fixed":
            if r.isGiven(v, .drainTarget) {
                throw ConfigError(flag: (try r.required(v, .drainTarget)).source, message: "only with --scaling adaptive (the fixed formula has no drain target)")
            }
            return nil
        case "adaptive":
            return AdaptivePolicy(drainTarget: try r.duration(v, .drainTarget))
        default:
            throw ConfigError(flag: source, message: "expected fixed or adaptive, got '\(mode)'")
        }
    }

    /// The environment a worker gets: ours without any of our secrets (the operator's RPA
    /// credentials stay), plus every option it shares with us (`OptionSpec.passedToWorkers`, each
    /// under its spec's variable), so its command line holds only `--queue NAME --slot N`.
    /// The Redis password goes to the worker's stdin (`workerStdinLine`), never its environment.
    public func workerEnvironment(base: [String: String], queue: String, orchestratorPID: Int32) -> [String: String] {
        var env = ChildEnvironment.withoutSecrets(base)
        let values = workerOptionValues
        for spec in OptionSpec.passedToWorkers {
            if let value = values[spec] { env[spec.env] = value }
        }
        if workerStdinLine != nil { env[ChildEnvironment.passwordOnStdin] = "1" }
        env[handlerEnvName(queue)] = handlers[queue]
        env["ORCHESTRATOR_PID"] = "\(orchestratorPID)"
        env["RPA_HOST_ID"] = fleet.hostID
        return env
    }

    /// Each option passed to workers, as text the worker's resolver reads back to the same value
    /// (nil: not set, e.g. no Sentinel; its password, like Redis', goes on the worker's stdin).
    var workerOptionValues: OptionValues {
        var v = OptionValues()
        v[.redisURL] = job.redis.urlWithoutPassword
        v[.redisSentinel] = job.redis.sentinel?.addressList
        v[.redisSentinelMaster] = job.redis.sentinel?.masterName
        v[.prefix] = job.prefix
        v[.handlerMode] = job.handlerMode.rawValue
        v[.jobTimeout] = "\(job.jobTimeout.milliseconds)ms"
        v[.maxAttempts] = "\(job.maxAttempts)"
        v[.retryDelay] = "\(job.retryDelay.milliseconds)ms"
        v[.maxJobsPerWorker] = "\(job.maxJobsPerWorker)"
        v[.maxWorkerRSSMB] = "\(job.maxWorkerRSSMB)"
        v[.output] = job.outputIsJSON ? "json" : "text"
        v[.resultTTL] = "\(job.resultTTL.milliseconds)ms"
        v[.logFormat] = log.format.rawValue
        v[.logTime] = log.time.rawValue
        v[.logLevel] = "\(log.level)"
        return v
    }

    /// The line a worker reads on its stdin at start: the Redis password and the sentinels' one,
    /// percent-encoded (nil: neither).
    public var workerStdinLine: String? {
        let sentinelPassword = job.redis.sentinel?.password
        guard job.redis.password != nil || sentinelPassword != nil else { return nil }
        return ChildEnvironment.stdinLine(redisPassword: job.redis.password, sentinelPassword: sentinelPassword)
    }

    /// `--handler NAME=COMMAND` for each queue, else `HANDLER_<NAME>`, else `HANDLER`; each checked.
    static func resolveHandlers(_ given: [String], queues: [String], _ r: OptionResolver) throws(ConfigError) -> [String: String] {
        var handlers: [String: String] = [:]
        var handlerSource: [String: String] = [:]
        for entry in given {
            guard let eq = entry.firstIndex(of: "=") else {
                throw ConfigError(flag: "--handler", message: "expected NAME=COMMAND, got '\(entry)'")
            }
            let name = String(entry[..<eq]).trimmingSpaces
            let command = String(entry[entry.index(after: eq)...])
            guard queues.contains(name) else {
                throw ConfigError(flag: "--handler", message: "'\(name)' is not a watched queue (queues: \(queues.joined(separator: ", ")))")
            }
            guard !command.trimmingSpaces.isEmpty else { throw ConfigError(flag: "--handler", message: "empty command for queue '\(name)'") }
            handlers[name] = command
            handlerSource[name] = "--handler"
        }
        for q in queues where handlers[q] == nil {
            if let command = r.environment[handlerEnvName(q)] ?? r.environment["HANDLER"], !command.trimmingSpaces.isEmpty {
                handlers[q] = command
                handlerSource[q] = "--handler (from \(r.environment[handlerEnvName(q)] != nil ? handlerEnvName(q) : "HANDLER"))"
            } else {
                throw ConfigError(flag: "--handler", message: "no handler for queue '\(q)': pass --handler \(q)=COMMAND or set \(handlerEnvName(q))")
            }
        }
        for q in queues {
            if let command = handlers[q], let problem = HandlerCheck.problem(command, path: r.environment["PATH"]) {
                throw ConfigError(flag: handlerSource[q] ?? "--handler", message: "handler of queue '\(q)': \(problem)")
            }
        }
        return handlers
    }

    /// One line describing the configuration, with the password redacted.
    public var summary: String {
        let p = policy
        return "redis=\(job.redis) queues=\(queues.joined(separator: ",")) prefix=\(job.prefix) jobs_per_worker=\(p.jobsPerWorker) "
            + "min_per_queue=\(p.minPerQueue) max_per_queue=\(p.maxPerQueue)\(maxPerQueueClamped ? " (default \(OptionSpec.maxPerQueue.defaultValue ?? "") clamped to --max-total)" : "") max_total=\(p.maxTotal) "
            + "scale_down_delay=\(formatDuration(p.scaleDownDelay)) poll=\(formatDuration(pollInterval)) "
            + "drain_timeout=\(formatDuration(drainTimeout)) job_timeout=\(formatDuration(job.jobTimeout)) "
            + "max_attempts=\(job.maxAttempts) mode=\(job.handlerMode.rawValue) worker=\(workerPath)"
            + (adaptive.map { " scaling=adaptive drain_target=\(formatDuration($0.drainTarget))" } ?? " scaling=fixed")
            + " host_id=\(fleet.hostID) host_max_workers=\(fleet.hostMaxWorkers) lease_ttl=\(formatDuration(fleet.leaseTTL))"
    }
}
