import ArgumentParser
import Foundation
import Logging
import OrchestratorCore

extension ArgumentHelp {
    /// The help of an option, from its one declaration (`OptionSpec`).
    public init(_ spec: OptionSpec) { self.init(spec.help, valueName: spec.valueName) }
}

/// A set of command-line options whose values are read by `OptionSpec.name`: each option is
/// declared once as `@Option(help: ArgumentHelp(.spec)) var name: String?`, nothing copies it.
public protocol OptionValueSource {
    var optionValues: OptionValues { get }
}

extension OptionValueSource {
    /// Every `Option<String?>` property (and nested option group) whose name is an `OptionSpec`.
    public var optionValues: OptionValues {
        var values = OptionValues()
        for child in Mirror(reflecting: self).children {
            guard let label = child.label?.drop(while: { $0 == "_" }) else { continue }
            if let option = child.value as? Option<String?>, let spec = OptionSpec.all.first(where: { $0.name == label }) {
                values[spec] = option.wrappedValue
            } else if let group = child.value as? any OptionGroupValues {
                // Reflect the group once (reading `nestedValues` per spec reflected it ~50 times:
                // half of a worker's start-up CPU).
                let nested = group.nestedValues
                for spec in OptionSpec.all { if let v = nested[spec] { values[spec] = v } }
            }
        }
        return values
    }
}

/// An `@OptionGroup` of options with specs.
protocol OptionGroupValues { var nestedValues: OptionValues { get } }
extension OptionGroup: OptionGroupValues where Value: OptionValueSource {
    var nestedValues: OptionValues { wrappedValue.optionValues }
}

/// Where Redis is: every command has these.
public struct RedisOptions: ParsableArguments, OptionValueSource {
    public init() {}
    @Option(help: ArgumentHelp(.redisURL)) var redisURL: String?
    @Option(help: ArgumentHelp(.redisSentinel)) var redisSentinel: String?
    @Option(help: ArgumentHelp(.redisSentinelMaster)) var redisSentinelMaster: String?
    @Option(help: ArgumentHelp(.prefix)) var prefix: String?
    /// The URL given on the command line (a password there is visible in `ps`: warn).
    public var givenURL: String? { redisURL }
}

/// Options shared by `worker` and `orchestrator run` (passed from one to the other through the environment).
public struct SharedJobOptions: ParsableArguments, OptionValueSource {
    public init() {}
    @OptionGroup var redis: RedisOptions
    @Option(help: ArgumentHelp(.handlerMode), completion: .list(OptionSpec.handlerMode.choices)) var handlerMode: String?
    @Option(help: ArgumentHelp(.jobTimeout)) var jobTimeout: String?
    @Option(help: ArgumentHelp(.maxAttempts)) var maxAttempts: String?
    @Option(help: ArgumentHelp(.retryDelay)) var retryDelay: String?
    @Option(help: ArgumentHelp(.maxJobsPerWorker)) var maxJobsPerWorker: String?
    @Option(name: .customLong("max-worker-rss-mb"), help: ArgumentHelp(.maxWorkerRSSMB)) var maxWorkerRSSMB: String?
    @Option(help: ArgumentHelp(.output), completion: .list(OptionSpec.output.choices)) var output: String?
    @Option(name: .customLong("result-ttl"), help: ArgumentHelp(.resultTTL)) var resultTTL: String?
    @Option(help: ArgumentHelp(.logFormat), completion: .list(OptionSpec.logFormat.choices)) var logFormat: String?
    @Option(help: ArgumentHelp(.logTime), completion: .list(OptionSpec.logTime.choices)) var logTime: String?
    @Option(help: ArgumentHelp(.logLevel), completion: .list(OptionSpec.logLevel.choices)) var logLevel: String?
    public var redisURL: String? { redis.givenURL }
}

/// The scaling and supervision options of `orchestrator run`.
public struct RunOptions: ParsableArguments, OptionValueSource {
    public init() {}
    @Option(help: ArgumentHelp(.scaling), completion: .list(OptionSpec.scaling.choices)) var scaling: String?
    @Option(help: ArgumentHelp(.drainTarget)) var drainTarget: String?
    @Option(help: ArgumentHelp(.jobsPerWorker)) var jobsPerWorker: String?
    @Option(help: ArgumentHelp(.maxPerQueue)) var maxPerQueue: String?
    @Option(help: ArgumentHelp(.maxTotal)) var maxTotal: String?
    @Option(help: ArgumentHelp(.minPerQueue)) var minPerQueue: String?
    @Option(help: ArgumentHelp(.pollInterval)) var pollInterval: String?
    @Option(help: ArgumentHelp(.interval)) var interval: String?
    @Option(help: ArgumentHelp(.scaleDownDelay)) var scaleDownDelay: String?
    @Option(help: ArgumentHelp(.drainTimeout)) var drainTimeout: String?
    @Option(help: ArgumentHelp(.logDir)) var logDir: String?
    @Option(help: ArgumentHelp(.workerPath)) var workerPath: String?
    @Option(help: ArgumentHelp(.httpListen)) var httpListen: String?
    @Option(help: ArgumentHelp(.metricsListen)) var metricsListen: String?
    @Option(help: ArgumentHelp(.httpToken)) var httpToken: String?
    @Option(help: ArgumentHelp(.httpTokenFile)) var httpTokenFile: String?
    @Option(help: ArgumentHelp(.logTo), completion: .list(OptionSpec.logTo.choices)) var logTo: String?
    @Option(help: ArgumentHelp(.eventsMax)) var eventsMax: String?
    @Option(help: ArgumentHelp(.historyRetention)) var historyRetention: String?
    @Option(help: ArgumentHelp(.alertCommand)) var alertCommand: String?
    @Option(help: ArgumentHelp(.alertRepeat)) var alertRepeat: String?
    @Option(help: ArgumentHelp(.alertsDisable)) var alertsDisable: String?
    @Option(help: ArgumentHelp(.alertCapFor)) var alertCapFor: String?
    @Option(help: ArgumentHelp(.alertRedisDownFor)) var alertRedisDownFor: String?
    @Option(help: ArgumentHelp(.alertDeadWindow)) var alertDeadWindow: String?
    @Option(help: ArgumentHelp(.alertNoProgressFor)) var alertNoProgressFor: String?
    @Option(help: ArgumentHelp(.alertCrashLoop)) var alertCrashLoop: String?
    @Option(help: ArgumentHelp(.alertStuckAt)) var alertStuckAt: String?
    @Option(help: ArgumentHelp(.alertMemoryAt)) var alertMemoryAt: String?
    @Option(help: ArgumentHelp(.hostID)) var hostID: String?
    @Option(help: ArgumentHelp(.hostMaxWorkers)) var hostMaxWorkers: String?
    @Option(help: ArgumentHelp(.leaseTTL)) var leaseTTL: String?
    @Option(help: ArgumentHelp(.redisNotifications)) var redisNotifications: String?
    @OptionGroup public var shared: SharedJobOptions
}

/// A bad flag or environment value: prints `Error: <message>` (the message names the flag, the
/// variable and the value) without the usage text, and exits 64.
public func badConfig(_ message: String) -> ExitCode {
    FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
    return ExitCode(ExitCodes.usage)
}

/// Connects at start-up or ends the process with exit 69 and one clear line (password redacted).
public func connectOrExit(_ endpoint: RedisEndpoint, logger: Logger) throws -> RedisConnection {
    let connection = RedisConnection(endpoint: endpoint)
    do {
        try connectAtStartup(connection)
    } catch {
        logger.critical("redis.unavailable", metadata: ["redis": "\(endpoint)", "error": "\(error)"])
        throw ExitCode(ExitCodes.redisUnavailable)
    }
    return connection
}

/// Where the read-only subcommands (`status`, `dead`, `pause`, `resume`) look: Redis, prefix and queues.
public struct RedisTargetOptions: ParsableArguments {
    public init() {}

    @Option(name: .customLong("queue"), help: ArgumentHelp("Queue, repeatable (env QUEUES as a comma list; default \(QueueList.defaultQueues.joined(separator: ","))).", valueName: "name"))
    public var queues: [String] = []
    @OptionGroup var redis: RedisOptions

    /// The queues named with `--queue` or `QUEUES`, checked as for `run` (`QueueList`); nil when
    /// neither is given.
    public func queueList(environment: [String: String]) throws(ConfigError) -> [String]? {
        try QueueList.named(flags: queues, environment: environment)
    }

    /// `queueList`, ending the process with exit 64 and the message on a bad list.
    public func requestedQueues() throws -> [String]? {
        do { return try queueList(environment: ProcessInfo.processInfo.environment) } catch { throw badConfig(error.description) }
    }

    /// Redis and the prefix, resolved (exit 64 on bad values).
    public func jobSettings() throws -> JobSettings {
        do { return try JobSettings.resolve(redis.optionValues, OptionResolver(environment: ProcessInfo.processInfo.environment)) } catch {
            throw badConfig(error.description)
        }
    }

    /// Resolves the settings and connects (exit 64 on bad values, 69 when Redis refuses).
    public func connect(command: String) throws -> (connection: RedisConnection, prefix: String, requested: [String]?) {
        let requested = try requestedQueues()
        let job = try jobSettings()
        let connection = RedisConnection(endpoint: job.redis)
        do {
            try connectAtStartup(connection, attempts: 2)
        } catch {
            FileHandle.standardError.write(Data("\(command): cannot read \(job.redis): \(error)\n".utf8))
            throw ExitCode(ExitCodes.redisUnavailable)
        }
        return (connection, job.prefix, requested)
    }

    /// The queues a command acts on: those named, else those the running orchestrator watches,
    /// else `QueueList.defaultQueues`.
    public func targetQueues(_ connection: RedisConnection, prefix: String, requested: [String]?) -> [String] {
        if let requested { return requested }
        return watchedQueues(connection, prefix: prefix) ?? QueueList.defaultQueues
    }
}

/// The queues the running orchestrator of `prefix` watches (from its heartbeat), nil when none runs.
public func watchedQueues(_ connection: RedisConnection, prefix: String) -> [String]? {
    QueueControl.watched(redis: connection, prefix: prefix)
}
