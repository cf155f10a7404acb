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
    /// `--output json`: a handler output that is one JSON value is stored as JSON.
    public var outputIsJSON = false
    /// `--result-ttl`: how long a result stays findable by its job's instance id (0 = not stored).
    public var resultTTL = OptionSpec.resultTTL.defaultDuration

    /// Resolves the job options (flag → environment → default, each from its `OptionSpec`).
    public static func resolve(_ values: OptionValues, _ r: OptionResolver) throws(ConfigError) -> JobSettings {
        let url = try r.required(values, .redisURL).text
        var endpoint: RedisEndpoint
        do {
            endpoint = try RedisEndpoint.parse(url, fallbackPassword: r.environment["REDIS_PASSWORD"])
        } catch {
            throw ConfigError(flag: (try r.required(values, .redisURL)).source, message: "\(error)")
        }
        endpoint.sentinel = try sentinel(values, r)
        let (prefix, prefixSource) = try r.required(values, .prefix)
        if prefix.contains(where: { $0 == " " || $0 == "*" || $0 == "?" || $0 == "[" }) {
            throw ConfigError(flag: prefixSource, message: "must not contain spaces or glob characters (* ? [), got '\(prefix)'")
        }
        let (modeText, modeSource) = try r.required(values, .handlerMode)
        guard let mode = HandlerMode(rawValue: modeText.trimmingSpaces.lowercased()) else {
            throw ConfigError(flag: modeSource, message: "expected exec or persistent, got '\(modeText)'")
        }
        return JobSettings(
            redis: endpoint,
            prefix: prefix,
            handlerMode: mode,
            jobTimeout: try r.duration(values, .jobTimeout),
            maxAttempts: try r.int(values, .maxAttempts),
            retryDelay: try r.duration(values, .retryDelay),
            maxJobsPerWorker: try r.int(values, .maxJobsPerWorker),
            maxWorkerRSSMB: try r.int(values, .maxWorkerRSSMB),
            outputIsJSON: try outputFormat(values, r),
            resultTTL: try r.duration(values, .resultTTL))
    }

    /// `--redis-sentinel` with `--redis-sentinel-master` (one without the other is an error),
    /// and `REDIS_SENTINEL_PASSWORD`; nil when Sentinel is not used.
    static func sentinel(_ values: OptionValues, _ r: OptionResolver) throws(ConfigError) -> SentinelSettings? {
        let list = r.raw(values, .redisSentinel)
        let master = r.raw(values, .redisSentinelMaster)
        guard let (text, source) = list else {
            if let master { throw ConfigError(flag: master.source, message: "only with --redis-sentinel (env REDIS_SENTINELS)") }
            return nil
        }
        let addresses: [SentinelSettings.Address]
        switch SentinelSettings.parseAddresses(text) {
        case .success(let parsed): addresses = parsed
        case .failure(let error): throw ConfigError(flag: source, message: error.message)
        }
        guard let (name, nameSource) = master else {
            throw ConfigError(flag: source, message: "needs --redis-sentinel-master NAME (env REDIS_SENTINEL_MASTER)")
        }
        let trimmed = name.trimmingSpaces
        if trimmed.isEmpty || trimmed.contains(where: { $0 == " " || $0.isNewline }) {
            throw ConfigError(flag: nameSource, message: "expected a master name without spaces, got '\(name)'")
        }
        let password = r.environment["REDIS_SENTINEL_PASSWORD"].flatMap { $0.isEmpty ? nil : $0 }
        return SentinelSettings(addresses: addresses, masterName: trimmed, password: password)
    }

    static func outputFormat(_ values: OptionValues, _ r: OptionResolver) throws(ConfigError) -> Bool {
        let (text, source) = try r.required(values, .output)
        switch text.trimmingSpaces.lowercased() {
        case "text": return false
        case "json": return true
        default: throw ConfigError(flag: source, message: "expected text or json, got '\(text)'")
        }
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
    public var log = LogSettings()
    /// Touched on every heartbeat, for `worker --check` (a liveness probe that does not need Redis).
    public var healthFile = ""

    /// `--health-file`, or `/tmp/rpa-worker-<host>-<prefix>-<queue>-<slot>.alive` (the prefix
    /// percent-encoded), so two hosts sharing /tmp or two prefixes on one machine never share a file.
    public static func healthFile(queue: String, slot: Int, values: OptionValues, _ r: OptionResolver) -> String {
        if let path = r.string(values, .healthFile) { return path }
        let prefix = PercentEncoding.encode(r.string(values, .prefix) ?? "")
        return "/tmp/rpa-worker-\(PercentEncoding.encode(hostID(r.environment)))-\(prefix)-\(queue)-\(slot).alive"
    }

    /// The host a worker reports (heartbeats, health file): the orchestrator's `--host-id`
    /// (`RPA_HOST_ID`), else the hostname.
    public static func hostID(_ environment: [String: String]) -> String {
        environment["RPA_HOST_ID"].flatMap { $0.isEmpty ? nil : $0 } ?? WallClock.hostName()
    }

    public static func resolve(queue: String, handler: String?, values: OptionValues, _ r: OptionResolver) throws(ConfigError) -> WorkerSettings {
        try validateQueueName(queue, flag: "--queue")
        let slotNumber = try r.int(values, .slot)
        let handlerCommand = handler ?? r.environment[handlerEnvName(queue)] ?? r.environment["HANDLER"]
        guard let handlerCommand, !handlerCommand.trimmingSpaces.isEmpty else {
            throw ConfigError(flag: "--handler", message: "no handler for queue '\(queue)': pass --handler COMMAND or set \(handlerEnvName(queue))")
        }
        if let problem = HandlerCheck.problem(handlerCommand, path: r.environment["PATH"]) {
            let source = handler != nil ? "--handler" : "--handler (from \(r.environment[handlerEnvName(queue)] != nil ? handlerEnvName(queue) : "HANDLER"))"
            throw ConfigError(flag: source, message: problem)
        }
        var pid: Int32?
        if let text = r.environment["ORCHESTRATOR_PID"], let p = Int32(text), p > 0 { pid = p }
        return WorkerSettings(job: try JobSettings.resolve(values, r), queue: queue, slot: slotNumber, handler: handlerCommand, orchestratorPID: pid,
                              log: try LogSettings.resolve(values, r), healthFile: healthFile(queue: queue, slot: slotNumber, values: values, r))
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
