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

/// The original system's rebalance lines, word for word (operators grep these).
public enum RebalanceLines {
    public static func scaleUp(queue: String, pending: Int, adding: Int, from: Int, to: Int) -> String {
        "[ESCALAR] \(queue): \(pending) jobs → criando \(adding) worker(s) (total: \(from) → \(to))"
    }

    public static func scaleDown(queue: String, pending: Int, excess: Int, from: Int, to: Int) -> String {
        "[REDUZIR] \(queue): \(pending) jobs → \(excess) worker(s) em excesso (total: \(from) → \(to))"
    }

    public static func steady(queue: String, pending: Int, workers: Int) -> String {
        "[EQUILIBRIO] \(queue): \(pending) jobs → \(workers) worker(s) ativo(s). Sem mudanças."
    }

    /// The stable event name of a rebalance line, for the `event` field of JSON logs (the line
    /// itself is the message, unchanged): `scale.up`, `scale.down`, `scale.steady`.
    public static func event(of line: String) -> String? {
        if line.hasPrefix("[ESCALAR]") { return LogEvents.scaleUp }
        if line.hasPrefix("[REDUZIR]") { return LogEvents.scaleDown }
        if line.hasPrefix("[EQUILIBRIO]") { return LogEvents.scaleSteady }
        return nil
    }

    public static func started(name: String, pid: Int32, queue: String, total: Int) -> String {
        "Worker '\(name)' iniciado (pid \(pid)). Total de \(queue): \(total)"
    }

    public static func stopped(name: String, pid: Int32, status: String, queue: String, total: Int) -> String {
        "Worker '\(name)' encerrado (pid \(pid), \(status)). Total de \(queue): \(total)"
    }
}
