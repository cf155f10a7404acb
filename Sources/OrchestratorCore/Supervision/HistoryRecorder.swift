import Foundation

/// The fleet leader's per-queue minute history: feeds each queue's `QueueHistory`, gives its
/// jobs/min rates, and returns the XADD of each finished minute (one pipelined round trip for all
/// queues, trimmed to `--history-retention` by MINID). Owns the histories; performs no I/O.
struct HistoryRecorder {
    /// One worker as the sample counts it.
    struct WorkerSample {
        var isBusy: Bool
        var isDraining: Bool
        var pssBytes: Int
    }

    let prefix: String
    /// `--history-retention` (nil: samples are measured but not written).
    let retention: Duration?
    private var histories: [String: QueueHistory] = [:]

    init(prefix: String, retention: Duration?) {
        self.prefix = prefix
        self.retention = retention
    }

    /// Jobs completed per minute over the last 1, 5 and 15 minutes (nil before the first sample).
    func jobsPerMinute(_ queue: String, done: Int) -> (one: Double?, five: Double?, fifteen: Double?)? {
        histories[queue]?.jobsPerMinute(current: done)
    }

    /// Feeds one reading per queue; returns the XADD commands of the minutes that finished.
    mutating func record(_ readings: [(queue: String, reading: QueueHistory.Reading)], wallMilliseconds wall: Int64) -> [[RedisArg]] {
        var commands: [[RedisArg]] = []
        for (q, r) in readings {
            guard let fields = histories[q, default: QueueHistory()].observe(r, wallMilliseconds: wall), let retention else { continue }
            var xadd: [RedisArg] = ["XADD", RedisArg(QueueKeys.history(prefix: prefix, queue: q)), "MINID", "~",
                                    RedisArg("\(wall - retention.milliseconds)"), "*"]
            for (k, v) in fields { xadd += [RedisArg(k), RedisArg(v)] }
            commands.append(xadd)
        }
        return commands
    }

    /// One queue's sample, from values: its counts, its workers, its stats hash.
    static func reading(pending: Int, retrying: Int, target: Int, workers: [WorkerSample], stats: [String: String]) -> QueueHistory.Reading {
        var r = QueueHistory.Reading()
        r.pending = pending
        r.retrying = retrying
        r.target = target
        r.busy = workers.filter { $0.isBusy && !$0.isDraining }.count
        r.draining = workers.filter(\.isDraining).count
        r.idle = workers.count - r.busy - r.draining
        r.inFlight = workers.filter(\.isBusy).count
        let counts = QueueStats(fields: stats)
        (r.done, r.failed, r.dead) = (counts.done, counts.failed, counts.dead)
        r.durations = stats.filter { $0.key.hasPrefix("dur_le_") }.compactMapValues { Int($0) }
        r.maxPSS = workers.map(\.pssBytes).max() ?? 0
        return r
    }

    /// Each queue's sample, from the Supervisor's queue states, worker table and last reading.
    static func readings(queues: [String], states: [String: SupervisedQueue], workers: [SupervisedWorker],
                         reading: PollReading) -> [(queue: String, reading: QueueHistory.Reading)] {
        queues.map { q in
            let state = states[q] ?? SupervisedQueue()
            return (q, Self.reading(pending: state.pending, retrying: reading.retrying[q] ?? 0, target: state.target.allotted,
                                    workers: workers.filter { $0.queue == q }.map(\.historySample), stats: reading.stats[q] ?? [:]))
        }
    }
}
