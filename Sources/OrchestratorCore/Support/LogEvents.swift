/// Stable event names (the message of each structured log line). Scripts, tests and people grep these.
public enum LogEvents {
    public static let workerReady = "worker.ready"
    public static let workerDraining = "worker.draining"
    public static let workerExiting = "worker.exiting"
    public static let jobStart = "job.start"
    public static let jobDone = "job.done"
    public static let jobFailed = "job.failed"
    public static let jobRecovered = "job.recovered"
    /// One line a handler wrote to stderr (`line`, and `job.id` while a job runs).
    public static let handlerStderr = "handler.stderr"
    public static let redisDown = "redis.down"
    public static let redisUp = "redis.up"
    public static let orchestratorReady = "orchestrator.ready"
    public static let drainBegin = "drain.begin"
    public static let drainDone = "drain.done"
    public static let workerSpawned = "worker.spawned"
    public static let workerExited = "worker.exited"
    public static let workerKilled = "worker.killed"
    public static let crashLoop = "worker.crashloop"
    public static let config = "config"
    /// The `event` of the seed's `[ESCALAR]`, `[REDUZIR]` and `[EQUILIBRIO]` lines in JSON logs.
    public static let scaleUp = "scale.up"
    public static let scaleDown = "scale.down"
    public static let scaleSteady = "scale.steady"
    /// A job key (results, dead, retry, the queue) of the wrong type: the job is kept where it is.
    public static let queueError = "queue.error"
    /// A job key reported by `queue.error` took the write again.
    public static let queueWritable = "queue.writable"
    /// A key holding no job (stats, heartbeat, events…) of the wrong type: that write is skipped.
    public static let keyError = "redis.key_error"
    public static let keyOK = "redis.key_ok"
}

/// The original system's worker lines, word for word (operators grep these); the rebalance lines are `ScaleDecision.line`.
public enum RebalanceLines {
    public static func started(name: String, pid: Int32, queue: String, total: Int) -> String {
        "Worker '\(name)' iniciado (pid \(pid)). Total de \(queue): \(total)"
    }

    public static func stopped(name: String, pid: Int32, status: String, queue: String, total: Int) -> String {
        "Worker '\(name)' encerrado (pid \(pid), \(status)). Total de \(queue): \(total)"
    }
}
