/// How handler commands are run.
public enum HandlerMode: String, Sendable, CaseIterable {
    /// One `/bin/sh -c` process per job.
    case exec
    /// One long-lived handler per worker, one JSON line per job.
    case persistent
}

/// The options shared by the orchestrator and the worker (Redis, attempts, timeout, recycling).
public struct JobSettings: Sendable, Equatable {
    public var redis: RedisEndpoint
    public var prefix: String
    public var handlerMode: HandlerMode
    public var jobTimeout: Duration
    public var maxAttempts: Int
    public var retryDelay: Duration
    public var maxJobsPerWorker: Int
    public var maxWorkerRSSMB: Int

    /// Raw flag values (nil = not given); the env fallback and defaults are applied here.
    public struct Flags: Sendable {
        public var redisURL: String?
        public var prefix: String?
        public var handlerMode: String?
        public var jobTimeout: String?
        public var maxAttempts: String?
        public var retryDelay: String?
        public var maxJobsPerWorker: String?
        public var maxWorkerRSSMB: String?
        public init() {}
    }

    public static func resolve(_ flags: Flags, _ r: OptionResolver) throws(ConfigError) -> JobSettings {
        let url = r.string(flags.redisURL, flag: "--redis-url", env: "REDIS_URL", default: "redis://127.0.0.1:6379/0")
        let endpoint: RedisEndpoint
        do {
            endpoint = try RedisEndpoint.parse(url, fallbackPassword: r.environment["REDIS_PASSWORD"])
        } catch {
            throw ConfigError(flag: flags.redisURL == nil && r.environment["REDIS_URL"] != nil ? "--redis-url (from REDIS_URL)" : "--redis-url",
                              message: "\(error)")
        }
        let prefix = r.string(flags.prefix, flag: "--prefix", env: "QUEUE_PREFIX", default: "fila:")
        if prefix.contains(where: { $0 == " " || $0 == "*" || $0 == "?" || $0 == "[" }) {
            throw ConfigError(flag: "--prefix", message: "must not contain spaces or glob characters (* ? [), got '\(prefix)'")
        }
        let modeText = r.string(flags.handlerMode, flag: "--handler-mode", env: "HANDLER_MODE", default: "exec")
        guard let mode = HandlerMode(rawValue: modeText) else {
            throw ConfigError(flag: "--handler-mode", message: "expected exec or persistent, got '\(modeText)'")
        }
        return JobSettings(
            redis: endpoint,
            prefix: prefix,
            handlerMode: mode,
            jobTimeout: try r.duration(flags.jobTimeout, flag: "--job-timeout", env: "JOB_TIMEOUT", default: .seconds(600), minimum: .milliseconds(10)),
            maxAttempts: try r.int(flags.maxAttempts, flag: "--max-attempts", env: "MAX_ATTEMPTS", default: 3, range: 1...1000),
            retryDelay: try r.duration(flags.retryDelay, flag: "--retry-delay", env: "RETRY_DELAY", default: .zero),
            maxJobsPerWorker: try r.int(flags.maxJobsPerWorker, flag: "--max-jobs-per-worker", env: "MAX_JOBS_PER_WORKER", default: 0, range: 0...100_000_000),
            maxWorkerRSSMB: try r.int(flags.maxWorkerRSSMB, flag: "--max-worker-rss-mb", env: "MAX_WORKER_RSS_MB", default: 0, range: 0...10_000_000))
    }
}

/// A worker's whole configuration.
public struct WorkerSettings: Sendable, Equatable {
    public var job: JobSettings
    public var queue: String
    public var slot: Int
    public var handler: String
    /// Set by the orchestrator (`ORCHESTRATOR_PID`): when our parent is no longer this pid, drain.
    public var orchestratorPID: Int32?

    public static func resolve(queue: String, slot: String?, handler: String?, flags: JobSettings.Flags, _ r: OptionResolver) throws(ConfigError) -> WorkerSettings {
        try validateQueueName(queue, flag: "--queue")
        let slotNumber = try r.int(slot, flag: "--slot", env: "WORKER_SLOT", default: 1, range: 0...1_000_000)
        let handlerCommand = handler ?? r.environment[handlerEnvName(queue)] ?? r.environment["HANDLER"]
        guard let handlerCommand, !handlerCommand.trimmingSpaces.isEmpty else {
            throw ConfigError(flag: "--handler", message: "no handler for queue '\(queue)': pass --handler COMMAND or set \(handlerEnvName(queue))")
        }
        var pid: Int32?
        if let text = r.environment["ORCHESTRATOR_PID"], let p = Int32(text), p > 0 { pid = p }
        return WorkerSettings(job: try JobSettings.resolve(flags, r), queue: queue, slot: slotNumber, handler: handlerCommand, orchestratorPID: pid)
    }
}

/// `HANDLER_<NAME>`: the queue name upper-cased, anything not a letter or digit as `_`.
public func handlerEnvName(_ queue: String) -> String {
    "HANDLER_" + String(queue.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" })
}

public func validateQueueName(_ name: String, flag: String) throws(ConfigError) {
    if name.isEmpty { throw ConfigError(flag: flag, message: "queue name is empty") }
    if name.count > 200 { throw ConfigError(flag: flag, message: "queue name longer than 200 characters") }
    if name.contains(where: { $0 == " " || $0 == "*" || $0 == "?" || $0 == "[" || $0 == "]" || $0 == ":" || $0 == "," || $0 == "/" || $0.isNewline }) {
        throw ConfigError(flag: flag, message: "queue name '\(name)' must not contain spaces, ':', ',', '/' or glob characters")
    }
}
