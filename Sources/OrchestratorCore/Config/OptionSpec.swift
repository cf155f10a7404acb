/// One option, declared once: its property name, flag, environment variable, default and help.
/// The command-line side (`CLISupport`) builds its help from it and finds the value by `name`;
/// `OptionResolver` reads flag → environment → default from it, so a default is written once.
public struct OptionSpec: Sendable, Hashable {
    /// The Swift property that holds it on the command line (`jobsPerWorker`).
    public let name: String
    public let flag: String
    public let env: String
    /// The default as a user would type it (parsed like one), nil when there is none.
    public let defaultValue: String?
    /// What `--help` says of the default when it is not a plain value ("off", "the worker beside this binary").
    public let defaultHelp: String?
    public let summary: String
    public let valueName: String
    /// The accepted values, when they are a fixed list (for shell completion).
    public let choices: [String]
    /// What the value is and the range it must lie in: `OptionResolver` parses and checks by it,
    /// the default included (`defaultInt`, `defaultDuration`…).
    public let type: OptionType

    public init(_ name: String, flag: String? = nil, env: String, default defaultValue: String?, defaultHelp: String? = nil,
                valueName: String, choices: [String] = [], type: OptionType = .text, _ summary: String) {
        self.choices = choices
        self.type = choices.isEmpty ? type : .choice
        self.name = name
        self.flag = flag ?? "--" + name.reduce(into: "") { $0 += $1.isUppercase ? "-" + $1.lowercased() : String($1) }
        self.env = env
        self.defaultValue = defaultValue
        self.defaultHelp = defaultHelp
        self.summary = summary
        self.valueName = valueName
    }

    /// `--help` text: the summary, then where else the value comes from and its default.
    public var help: String {
        let shown = defaultHelp ?? defaultValue
        return "\(summary) (env \(env)\(shown.map { ", default \($0)" } ?? ""))."
    }
}

extension OptionSpec {
    // Redis, shared by every command.
    public static let redisURL = OptionSpec("redisURL", flag: "--redis-url", env: "REDIS_URL", default: "redis://127.0.0.1:6379/0", valueName: "url",
                                            "redis://[user[:password]@]host:port/db; the password may instead come from REDIS_PASSWORD")
    public static let redisSentinel = OptionSpec("redisSentinel", env: "REDIS_SENTINELS", default: nil, defaultHelp: "off", valueName: "host:port,...",
                                                 "Redis Sentinel addresses: the master's address is asked of them at every (re)connect and the host:port of --redis-url is unused; their own password comes from REDIS_SENTINEL_PASSWORD")
    public static let redisSentinelMaster = OptionSpec("redisSentinelMaster", env: "REDIS_SENTINEL_MASTER", default: nil, defaultHelp: "none", valueName: "name",
                                                       "The master name the sentinels watch (required with --redis-sentinel)")
    public static let prefix = OptionSpec("prefix", env: "QUEUE_PREFIX", default: "fila:", valueName: "prefix", "Key prefix of the queues")
    // Jobs, shared by `orchestrator run` and `worker`.
    public static let handlerMode = OptionSpec("handlerMode", env: "HANDLER_MODE", default: "exec", valueName: "mode", choices: ["exec", "persistent"],
                                               "exec (a process per job) or persistent (one long-lived handler, JSON lines)")
    public static let jobTimeout = OptionSpec("jobTimeout", env: "JOB_TIMEOUT", default: "600s", valueName: "duration", type: .duration(minimum: .milliseconds(10)),
                                              "A job running longer is killed with its whole process group and retried")
    public static let maxAttempts = OptionSpec("maxAttempts", env: "MAX_ATTEMPTS", default: "3", valueName: "n", type: .int(1...1000),
                                               "Attempts before a job goes to <queue>:dead")
    public static let retryDelay = OptionSpec("retryDelay", env: "RETRY_DELAY", default: "0", valueName: "duration", type: .duration(),
                                              "0: requeue a failed attempt at once; more: wait this long, doubling each attempt")
    public static let maxJobsPerWorker = OptionSpec("maxJobsPerWorker", env: "MAX_JOBS_PER_WORKER", default: "0", valueName: "n", type: .int(0...100_000_000),
                                                    "Recycle a worker after this many jobs, 0 = never")
    public static let maxWorkerRSSMB = OptionSpec("maxWorkerRSSMB", flag: "--max-worker-rss-mb", env: "MAX_WORKER_RSS_MB", default: "0", valueName: "mb", type: .int(0...10_000_000),
                                                  "Recycle a worker, after its job, when its process tree (handler and browser included) uses more than this many MB, measured as PSS (shared pages counted once), 0 = off")
    public static let output = OptionSpec("output", env: "OUTPUT_FORMAT", default: "text", valueName: "format", choices: ["text", "json"],
                                          "text: a handler's stdout is stored as a string; json: stored as JSON when it is one JSON value (else as a string)")
    public static let resultTTL = OptionSpec("resultTTL", flag: "--result-ttl", env: "RESULT_TTL", default: "24h", valueName: "duration", type: .duration(),
                                             "How long the result of a job enqueued by the Python Client stays findable by its id (orchestrator:<prefix>result:<id>), 0 = not stored")
    // Scaling and supervision (`orchestrator run`).
    public static let jobsPerWorker = OptionSpec("jobsPerWorker", env: "JOBS_PER_WORKER", default: "50", valueName: "n", type: .int(1...100_000_000), "Target = ceil(pending / this)")
    public static let maxPerQueue = OptionSpec("maxPerQueue", env: "MAX_PER_QUEUE", default: "10", valueName: "n", type: .int(1...10_000),
                                               "Cap per queue; when not given, lowered to --max-total if that is smaller")
    public static let maxTotal = OptionSpec("maxTotal", env: "MAX_TOTAL", default: "20", valueName: "n", type: .int(1...10_000), "Cap over all queues")
    public static let minPerQueue = OptionSpec("minPerQueue", env: "MIN_PER_QUEUE", default: "0", valueName: "n", type: .int(0...10_000), "Floor per queue, 0 = scale to zero")
    public static let pollInterval = OptionSpec("pollInterval", env: "POLL_INTERVAL", default: "1s", valueName: "duration", type: .duration(minimum: .milliseconds(50)), "How often queue lengths are read")
    public static let interval = OptionSpec("interval", env: "REBALANCE_INTERVAL", default: "60s", valueName: "duration", type: .duration(minimum: .milliseconds(100)),
                                            "How often an [EQUILIBRIO] summary is logged when nothing changes")
    public static let scaleDownDelay = OptionSpec("scaleDownDelay", env: "SCALE_DOWN_DELAY", default: "60s", valueName: "duration", type: .duration(),
                                                  "A lower target must hold this long before workers are drained")
    public static let scaling = OptionSpec("scaling", env: "SCALING", default: "fixed", valueName: "policy", choices: ["fixed", "adaptive"],
                                           "fixed: ceil(pending / --jobs-per-worker); adaptive: the workers that drain the backlog within --drain-target, from measured throughput")
    public static let drainTarget = OptionSpec("drainTarget", env: "DRAIN_TARGET", default: "5m", valueName: "duration", type: .duration(minimum: .seconds(1)),
                                               "With --scaling adaptive: how long a backlog may take to drain")
    public static let drainTimeout = OptionSpec("drainTimeout", env: "DRAIN_TIMEOUT", default: "300s", valueName: "duration", type: .duration(),
                                                "On TERM, how long busy workers may finish before SIGKILL + requeue")
    public static let logDir = OptionSpec("logDir", env: "LOG_DIR", default: "logs", valueName: "dir",
                                          "Directory for orchestrator.log and worker-<queue>-<slot>.log")
    public static let workerPath = OptionSpec("workerPath", env: "WORKER_PATH", default: nil, defaultHelp: "the worker beside this binary",
                                              valueName: "path", "The worker executable")
    public static let httpListen = OptionSpec("httpListen", env: "HTTP_LISTEN", default: nil, defaultHelp: "off", valueName: "host:port",
                                              "Serve the dashboard, /api/, /metrics and the health endpoints on HOST:PORT, e.g. 127.0.0.1:9464 (an empty host is loopback; any other address needs a token)")
    public static let metricsListen = OptionSpec("metricsListen", env: "METRICS_LISTEN", default: nil, defaultHelp: "off", valueName: "host:port",
                                                 "Old name of --http-listen, still accepted")
    public static let httpToken = OptionSpec("httpToken", env: "HTTP_TOKEN", default: nil, defaultHelp: "none: read-only", valueName: "token",
                                             "Token that the dashboard's actions (pause, resume, requeue dead letters) must carry; prefer the variable or --http-token-file (a flag shows in ps)")
    public static let httpTokenFile = OptionSpec("httpTokenFile", env: "HTTP_TOKEN_FILE", default: nil, defaultHelp: "none", valueName: "path",
                                                 "Read the --http-token from this file (first line)")
    // Logs (both executables; the orchestrator passes them to its workers).
    public static let logFormat = OptionSpec("logFormat", env: "LOG_FORMAT", default: "text", valueName: "format", choices: ["text", "json"],
                                             "text ([10:30:00] | INFO     | message key=value) or json (one object per line)")
    public static let logTime = OptionSpec("logTime", env: "LOG_TIME", default: "clock", valueName: "style", choices: ["clock", "iso"],
                                           "Time stamps: clock (local HH:MM:SS) or iso (UTC date and milliseconds)")
    public static let logLevel = OptionSpec("logLevel", env: "LOG_LEVEL", default: "info", valueName: "level", choices: ["debug", "info", "warning", "error", "critical"],
                                            "Lowest level logged: debug, info, warning, error or critical")
    public static let logTo = OptionSpec("logTo", env: "LOG_TO", default: "both", valueName: "where", choices: ["stderr", "file", "both"],
                                         "Orchestrator log lines to stderr, file (<log-dir>/orchestrator.log) or both; under systemd, file keeps them out of the journal twice")
    // Several hosts (`orchestrator run`).
    public static let hostID = OptionSpec("hostID", flag: "--host-id", env: "HOST_ID", default: nil, defaultHelp: "the hostname", valueName: "id",
                                          "This orchestrator's name in the fleet of its prefix; two live orchestrators with one id refuse (exit 73)")
    public static let hostMaxWorkers = OptionSpec("hostMaxWorkers", env: "HOST_MAX_WORKERS", default: nil, defaultHelp: "--max-total", valueName: "n", type: .int(0...10_000),
                                                  "The most workers this host runs, all queues together (--max-total and --max-per-queue are fleet-wide)")
    public static let leaseTTL = OptionSpec("leaseTTL", flag: "--lease-ttl", env: "LEASE_TTL", default: "15s", valueName: "duration", type: .duration(minimum: .seconds(3), maximum: .seconds(600)),
                                            "A worker's slot lease in Redis lives this long without renewal; a host cut off from Redis kills its workers before its leases expire, 3s to 10m")
    public static let redisNotifications = OptionSpec("redisNotifications", env: "REDIS_NOTIFICATIONS", default: "auto", valueName: "mode", choices: ["auto", "off"],
                                                      "auto: the fleet's leader turns on the keyspace notifications it needs (CONFIG SET notify-keyspace-events, adding K, l, g, s) and reads a queue only when it changed; off: it peeks every queue every 100ms")
    // History and alerts (`orchestrator run`).
    public static let eventsMax = OptionSpec("eventsMax", env: "EVENTS_MAX", default: "100000", valueName: "n", type: .int(100...100_000_000),
                                             "Entries kept in the events stream orchestrator:<prefix>events (approximate)")
    public static let historyRetention = OptionSpec("historyRetention", env: "HISTORY_RETENTION", default: "7d", valueName: "duration", type: .durationOrOff(minimum: .seconds(3600), maximum: .seconds(365 * 86_400)),
                                                    "How long the per-queue minute samples (orchestrator:<prefix>history:<queue>) are kept, 1h to 365d; off writes none")
    public static let alertCommand = OptionSpec("alertCommand", env: "ALERT_COMMAND", default: nil, defaultHelp: "none", valueName: "command",
                                                "Run for each alert notification with its JSON on stdin (/bin/sh -c, own process group, killed after 10 s)")
    public static let alertRepeat = OptionSpec("alertRepeat", env: "ALERT_REPEAT", default: "30m", valueName: "duration", type: .duration(minimum: .seconds(1)),
                                               "An active alert is notified again this often (and a flapping one no more often)")
    public static let alertsDisable = OptionSpec("alertsDisable", env: "ALERTS_DISABLE", default: nil, defaultHelp: "none", valueName: "rules",
                                                 "Comma list of alert rules to turn off: cap_reached, crash_loop, redis_down, dead_letters, stuck_job, no_progress, worker_memory, queue_unreadable, or all")
    public static let alertCapFor = OptionSpec("alertCapFor", env: "ALERT_CAP_FOR", default: "5m", valueName: "duration", type: .duration(minimum: .seconds(1)),
                                               "cap_reached: how long a cap must bind while the backlog does not shrink")
    public static let alertRedisDownFor = OptionSpec("alertRedisDownFor", env: "ALERT_REDIS_DOWN_FOR", default: "30s", valueName: "duration", type: .duration(minimum: .seconds(1)),
                                                     "redis_down: how long Redis must be unreadable")
    public static let alertDeadWindow = OptionSpec("alertDeadWindow", env: "ALERT_DEAD_WINDOW", default: "10m", valueName: "duration", type: .duration(minimum: .seconds(1)),
                                                   "dead_letters: active while the dead list grew within this window")
    public static let alertNoProgressFor = OptionSpec("alertNoProgressFor", env: "ALERT_NO_PROGRESS_FOR", default: "5m", valueName: "duration", type: .duration(minimum: .seconds(1)),
                                                      "no_progress: how long pending jobs and busy workers may complete nothing")
    public static let alertCrashLoop = OptionSpec("alertCrashLoop", env: "ALERT_CRASH_LOOP", default: "5/1m", valueName: "n/duration", type: .rate(1...1000, per: .seconds(1) ... .seconds(3600)),
                                                  "crash_loop: this many worker crashes of one queue within this window")
    public static let alertStuckAt = OptionSpec("alertStuckAt", env: "ALERT_STUCK_AT", default: "80%", valueName: "percent", type: .percent(1...100),
                                                "stuck_job: a job running longer than this share of --job-timeout")
    public static let alertMemoryAt = OptionSpec("alertMemoryAt", env: "ALERT_MEMORY_AT", default: "90%", valueName: "percent", type: .percent(1...100),
                                                 "worker_memory: a worker tree above this share of --max-worker-rss-mb for 2 polls")
    // The worker alone.
    public static let slot = OptionSpec("slot", env: "WORKER_SLOT", default: "1", valueName: "n", type: .int(0...1_000_000), "Slot number, shown in ps and logs")
    public static let healthFile = OptionSpec("healthFile", env: "HEALTH_FILE", default: nil, defaultHelp: "/tmp/rpa-worker-<host>-<prefix>-<queue>-<slot>.alive",
                                              valueName: "path", "Touched on every heartbeat (every 2 s, Redis reachable or not); `worker --check` reads it")

    /// Options of the `worker` alone (not of `orchestrator run`).
    public static let workerOnly: Set<OptionSpec> = [slot, healthFile]

    /// The options a worker shares with `orchestrator run` (its `SharedJobOptions`): the
    /// orchestrator passes each to its workers under the spec's variable (`workerEnvironment`).
    public static let passedToWorkers: [OptionSpec] = [
        redisURL, redisSentinel, redisSentinelMaster, prefix, handlerMode, jobTimeout, maxAttempts, retryDelay, maxJobsPerWorker, maxWorkerRSSMB,
        output, resultTTL, logFormat, logTime, logLevel,
    ]

    /// Every option with a spec, for the command line to find by name and for tests.
    public static let all: [OptionSpec] = [
        redisURL, redisSentinel, redisSentinelMaster, prefix, handlerMode, jobTimeout, maxAttempts, retryDelay, maxJobsPerWorker, maxWorkerRSSMB,
        output, resultTTL, scaling, drainTarget, jobsPerWorker, maxPerQueue, maxTotal, minPerQueue, pollInterval, interval, scaleDownDelay, drainTimeout, logDir,
        workerPath, httpListen, metricsListen, httpToken, httpTokenFile, slot, healthFile, logFormat, logTime, logLevel, logTo,
        eventsMax, historyRetention, alertCommand, alertRepeat, alertsDisable, alertCapFor, alertRedisDownFor, alertDeadWindow, alertNoProgressFor,
        alertCrashLoop, alertStuckAt, alertMemoryAt, hostID, hostMaxWorkers, leaseTTL, redisNotifications,
    ]
}

/// The raw values given on the command line, by option (nil = not given).
public struct OptionValues: Sendable, Equatable {
    private var values: [String: String] = [:]
    public init() {}
    public subscript(_ spec: OptionSpec) -> String? {
        get { values[spec.name] }
        set { values[spec.name] = newValue }
    }
}
