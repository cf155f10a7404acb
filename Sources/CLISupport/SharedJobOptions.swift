import ArgumentParser
import Logging
import OrchestratorCore

/// Options shared by `worker` and `orchestrator` (passed from one to the other through the environment).
public struct SharedJobOptions: ParsableArguments {
    public init() {}
    @Option(help: "redis://[user[:password]@]host:port/db (env REDIS_URL; password also from REDIS_PASSWORD). Default redis://127.0.0.1:6379/0.")
    var redisURL: String?
    @Option(help: "Key prefix of the queues (env QUEUE_PREFIX, default fila:).") var prefix: String?
    @Option(help: "exec (a process per job) or persistent (one long-lived handler, JSON lines) (env HANDLER_MODE, default exec).")
    var handlerMode: String?
    @Option(help: "A job running longer is killed with its whole process group and retried (env JOB_TIMEOUT, default 600s).")
    var jobTimeout: String?
    @Option(help: "Attempts before a job goes to <queue>:dead (env MAX_ATTEMPTS, default 3).") var maxAttempts: String?
    @Option(help: "0: requeue a failed attempt at once; more: wait this long, doubling each attempt (env RETRY_DELAY, default 0).")
    var retryDelay: String?
    @Option(help: "Recycle a worker after this many jobs, 0 = never (env MAX_JOBS_PER_WORKER, default 0).") var maxJobsPerWorker: String?
    @Option(name: .customLong("max-worker-rss-mb"), help: "Recycle a worker whose process tree exceeds this RSS in MB, 0 = off (env MAX_WORKER_RSS_MB, default 0).")
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
