/// The job duration histogram, kept in each queue's stats hash by the workers (one counter per
/// bucket, `dur_le_<seconds>`, and `dur_ms_sum`), and exposed by the orchestrator's /metrics as
/// `rpa_job_duration_seconds`.
public enum JobDuration {
    /// Upper bounds in seconds (then +Inf): RPA jobs run from a fraction of a second to minutes.
    public static let buckets: [Double] = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600]

    /// The stats field counting a job of `milliseconds`.
    public static func field(milliseconds: Int64) -> String {
        let seconds = Double(milliseconds) / 1000
        guard let bound = buckets.first(where: { seconds <= $0 }) else { return "dur_le_inf" }
        return "dur_le_" + label(bound)
    }

    public static func label(_ bound: Double) -> String {
        bound == bound.rounded() ? String(Int(bound)) : String(bound)
    }

    /// Cumulative Prometheus buckets (`le` label → count), the count and the sum in seconds, from a stats hash.
    public static func histogram(_ stats: [String: String]) -> (buckets: [(String, Int)], count: Int, sum: Double) {
        var cumulative = 0
        var out: [(String, Int)] = []
        for bound in buckets {
            cumulative += Int(stats["dur_le_" + label(bound)] ?? "") ?? 0
            out.append((label(bound), cumulative))
        }
        let count = cumulative + (Int(stats["dur_le_inf"] ?? "") ?? 0)
        out.append(("+Inf", count))
        return (out, count, Double(Int(stats["dur_ms_sum"] ?? "") ?? 0) / 1000)
    }
}
