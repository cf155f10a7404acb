import ArgumentParser
import Foundation
import Logging
import OrchestratorCore

/// Options shared by `worker` and `orchestrator` (passed from one to the other through the environment).
public struct SharedJobOptions: ParsableArguments {
    public init() {}
    @Option(help: ArgumentHelp("redis://[user[:password]@]host:port/db (env REDIS_URL; password also from REDIS_PASSWORD). Default redis://127.0.0.1:6379/0.", valueName: "url"))
    public var redisURL: String?
    @Option(help: ArgumentHelp("Key prefix of the queues (env QUEUE_PREFIX, default fila:).", valueName: "prefix")) var prefix: String?
    @Option(help: ArgumentHelp("exec (a process per job) or persistent (one long-lived handler, JSON lines) (env HANDLER_MODE, default exec).", valueName: "mode"))
    var handlerMode: String?
    @Option(help: ArgumentHelp("A job running longer is killed with its whole process group and retried (env JOB_TIMEOUT, default 600s).", valueName: "duration"))
    var jobTimeout: String?
    @Option(help: ArgumentHelp("Attempts before a job goes to <queue>:dead (env MAX_ATTEMPTS, default 3).", valueName: "n")) var maxAttempts: String?
    @Option(help: ArgumentHelp("0: requeue a failed attempt at once; more: wait this long, doubling each attempt (env RETRY_DELAY, default 0).", valueName: "duration"))
    var retryDelay: String?
    @Option(help: ArgumentHelp("Recycle a worker after this many jobs, 0 = never (env MAX_JOBS_PER_WORKER, default 0).", valueName: "n")) var maxJobsPerWorker: String?
    @Option(name: .customLong("max-worker-rss-mb"), help: ArgumentHelp("Recycle a worker, after its job, when its process tree (handler and browser included) uses more than this many MB, measured as PSS (shared pages counted once), 0 = off (env MAX_WORKER_RSS_MB, default 0).", valueName: "mb"))
    var maxWorkerRSSMB: String?

    public var flags: JobSettings.Flags {
        var f = JobSettings.Flags()
        f.redisURL = redisURL
        f.prefix = prefix
        f.handlerMode = handlerMode
        f.jobTimeout = jobTimeout
        f.maxAttempts = maxAttempts
        f.retryDelay = retryDelay
        f.maxJobsPerWorker = maxJobsPerWorker
        f.maxWorkerRSSMB = maxWorkerRSSMB
        return f
    }
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

/// Where the read-only subcommands (`status`, `dead`) look: Redis, prefix and queues.
public struct RedisTargetOptions: ParsableArguments {
    public init() {}

    @Option(name: .customLong("queue"), help: ArgumentHelp("Queue, repeatable (env QUEUES as a comma list; default conferencia,emissao).", valueName: "name"))
    public var queues: [String] = []
    @Option(help: ArgumentHelp("redis://[user[:password]@]host:port/db (env REDIS_URL; password also from REDIS_PASSWORD).", valueName: "url"))
    public var redisURL: String?
    @Option(help: ArgumentHelp("Key prefix of the queues (env QUEUE_PREFIX, default fila:).", valueName: "prefix"))
    public var prefix: String?

    /// Resolves the settings and connects (exit 64 on bad values, 69 when Redis refuses).
    public func connect(command: String) throws -> (connection: RedisConnection, prefix: String, queues: [String]) {
        let env = ProcessInfo.processInfo.environment
        var flags = JobSettings.Flags()
        flags.redisURL = redisURL
        flags.prefix = prefix
        let job: JobSettings
        do { job = try JobSettings.resolve(flags, OptionResolver(environment: env)) } catch { throw ValidationError(error.description) }
        let names = queues.isEmpty ? (env["QUEUES"] ?? "conferencia,emissao").split(separator: ",").map(String.init) : queues
        let connection = RedisConnection(endpoint: job.redis)
        do {
            try connectAtStartup(connection, attempts: 2)
        } catch {
            FileHandle.standardError.write(Data("\(command): cannot read \(job.redis): \(error)\n".utf8))
            throw ExitCode(ExitCodes.redisUnavailable)
        }
        return (connection, job.prefix, names)
    }
}
