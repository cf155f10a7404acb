/// The job duration histogram, kept in each queue's stats hash by the workers (one counter per
/// bucket, `dur_le_<seconds>`, and `dur_ms_sum`), and exposed by the orchestrator's /metrics as
/// `rpa_job_duration_seconds`.
public enum JobDuration {
    /// Upper bounds in seconds (then +Inf): RPA jobs run from a fraction of a second to minutes.
    public static let buckets: [Double] = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600]

    /// The stats field counting a job of `milliseconds`.
    public static func field(milliseconds: Int64) -> String {
        let seconds = Double(milliseconds) / 1000
        return field(bound: buckets.first(where: { seconds <= $0 }))
    }

    /// The stats field of the bucket up to `bound` seconds (nil: beyond the last bound).
    public static func field(bound: Double?) -> String {
        QueueStats.bucketPrefix + (bound.map(label) ?? "inf")
    }

    public static func label(_ bound: Double) -> String {
        bound == bound.rounded() ? String(Int(bound)) : String(bound)
    }

    /// Cumulative Prometheus buckets (`le` label → count), the count and the sum in seconds, from a stats hash.
    public static func histogram(_ stats: [String: String]) -> (buckets: [(String, Int)], count: Int, sum: Double) {
        QueueStats(fields: stats).histogram
    }
}

/// A queue's stats hash (`orchestrator:<prefix>stats:<queue>`): counters the workers add to (the
/// take scripts count `done`, `failed` and `dead`; a worker adds its job durations in batches),
/// read by the orchestrator (metrics, alerts, history, adaptive rates) and `status`. The field
/// names live here only.
public struct QueueStats: Sendable, Equatable {
    public enum Field: String, CaseIterable, Sendable {
        case done, failed, dead, durationSum = "dur_ms_sum"
    }
    /// The histogram's bucket fields: `dur_le_<seconds>`, `dur_le_inf`.
    public static let bucketPrefix = "dur_le_"

    /// Jobs completed ok.
    public var done = 0
    /// Attempts that failed (a job retried three times counts three).
    public var failed = 0
    /// Jobs moved to the dead-letter list.
    public var dead = 0
    /// The histogram's counters by field name (`dur_le_*`, per bucket, not cumulative).
    public var durations: [String: Int] = [:]
    /// Sum of the counted durations, ms (nil: no worker counted one yet).
    public var durationSumMilliseconds: Int64?

    public init(done: Int = 0, failed: Int = 0, dead: Int = 0, durations: [String: Int] = [:], durationSumMilliseconds: Int64? = nil) {
        self.done = done; self.failed = failed; self.dead = dead
        self.durations = durations; self.durationSumMilliseconds = durationSumMilliseconds
    }

    /// Decodes a hash as HGETALL returns it (a missing or non-numeric counter reads as 0).
    public init(fields f: [String: String]) {
        func int(_ k: Field) -> Int { f[k.rawValue].flatMap { Int($0) } ?? 0 }
        self.init(done: int(.done), failed: int(.failed), dead: int(.dead),
                  durations: f.filter { $0.key.hasPrefix(Self.bucketPrefix) }.compactMapValues { Int($0) },
                  durationSumMilliseconds: f[Field.durationSum.rawValue].map { Int64($0) ?? 0 })
    }

    /// The hash's fields (what HGETALL returns once the workers counted these).
    public var fields: [(String, String)] {
        var out: [(String, String)] = [(Field.done.rawValue, "\(done)"), (Field.failed.rawValue, "\(failed)"), (Field.dead.rawValue, "\(dead)")]
        out += durations.sorted { $0.key < $1.key }.map { ($0.key, "\($0.value)") }
        if let durationSumMilliseconds { out.append((Field.durationSum.rawValue, "\(durationSumMilliseconds)")) }
        return out
    }

    /// Cumulative Prometheus buckets (`le` label → count), the count and the sum in seconds.
    public var histogram: (buckets: [(String, Int)], count: Int, sum: Double) {
        var cumulative = 0
        var out: [(String, Int)] = []
        for bound in JobDuration.buckets {
            cumulative += durations[JobDuration.field(bound: bound)] ?? 0
            out.append((JobDuration.label(bound), cumulative))
        }
        let count = cumulative + (durations[JobDuration.field(bound: nil)] ?? 0)
        out.append(("+Inf", count))
        return (out, count, Double(durationSumMilliseconds ?? 0) / 1000)
    }

    /// Counts one job of `ms` in `counts`: the increments a worker adds to the hash (HINCRBY each).
    public static func add(durationMilliseconds ms: Int64, to counts: inout [String: Int64]) {
        counts[JobDuration.field(milliseconds: ms), default: 0] += 1
        counts[Field.durationSum.rawValue, default: 0] += ms
    }
}
