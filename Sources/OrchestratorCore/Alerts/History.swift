/// The per-queue time series: one sample a minute in `orchestrator:<prefix>history:<queue>` (a
/// stream, id = the minute's end; trimmed by MINID to `--history-retention`), plus the rates of
/// the last 1, 5 and 15 minutes. Pure bookkeeping: the supervisor feeds it each poll and writes
/// what `sample` returns.
public struct QueueHistory: Sendable {
    /// A sample's fields, in the order written (`history --json`, `/api/history`).
    public enum Field: String, CaseIterable, Sendable {
        case minute, pending, inFlight = "in_flight", retry, target, busy, idle, draining, done, failed, dead, pssMax = "pss_max"
        case p50 = "p50_s", p95 = "p95_s", max = "max_s", rate1m = "rate_1m", rate5m = "rate_5m", rate15m = "rate_15m"
    }

    /// Cumulative counters and instant values, as one poll sees them.
    public struct Reading: Sendable, Equatable {
        public var pending = 0, inFlight = 0, retrying = 0, target = 0, busy = 0, idle = 0, draining = 0
        public var done = 0, failed = 0, dead = 0
        /// The duration histogram's stats fields (`dur_le_*`, cumulative counters).
        public var durations: [String: Int] = [:]
        public var maxPSS = 0
        public init() {}
    }

    /// Completed-job totals at the end of recent minutes (newest last), for the rates.
    private var doneAtMinute: [Int] = []
    private var minuteStart: (minute: Int64, reading: Reading)?
    private var peakPSS = 0

    public init() {}

    /// Jobs completed per minute over the last 1, 5 and 15 minutes (nil while not measured yet).
    public func jobsPerMinute(current done: Int) -> (one: Double?, five: Double?, fifteen: Double?) {
        func rate(_ n: Int) -> Double? {
            guard doneAtMinute.count >= n, done >= doneAtMinute[doneAtMinute.count - n] else { return nil }
            return Double(done - doneAtMinute[doneAtMinute.count - n]) / Double(n)
        }
        return (rate(1), rate(5), rate(15))
    }

    /// Feeds one poll; returns the finished minute's sample fields when a minute boundary passed.
    public mutating func observe(_ r: Reading, wallMilliseconds now: Int64) -> [(String, String)]? {
        let minute = now / 60_000
        peakPSS = max(peakPSS, r.maxPSS)
        guard let start = minuteStart else { minuteStart = (minute, r); return nil }
        // A counter went down: the stats hash was lost (Redis restarted without persistence, or
        // someone deleted it). Counting starts again from this reading; the rates are unknown until
        // measured again, never negative.
        if r.done < start.reading.done || r.failed < start.reading.failed || r.dead < start.reading.dead {
            doneAtMinute = []
            minuteStart = (minute, r)
            return nil
        }
        guard minute > start.minute else { return nil }
        defer { minuteStart = (minute, r); peakPSS = r.maxPSS }
        doneAtMinute.append(start.reading.done)
        if doneAtMinute.count > 16 { doneAtMinute.removeFirst(doneAtMinute.count - 16) }
        let deltas = Dictionary(uniqueKeysWithValues: JobDuration.buckets.map { b -> (Double, Int) in
            let key = JobDuration.field(bound: b)
            return (b, (r.durations[key] ?? 0) - (start.reading.durations[key] ?? 0))
        })
        let inf = JobDuration.field(bound: nil)
        let over = (r.durations[inf] ?? 0) - (start.reading.durations[inf] ?? 0)
        let rates = jobsPerMinute(current: r.done)
        var fields: [(Field, String)] = [
            (.minute, "\(minute * 60_000)"), (.pending, "\(r.pending)"), (.inFlight, "\(r.inFlight)"), (.retry, "\(r.retrying)"),
            (.target, "\(r.target)"), (.busy, "\(r.busy)"), (.idle, "\(r.idle)"), (.draining, "\(r.draining)"),
            (.done, "\(r.done - start.reading.done)"), (.failed, "\(r.failed - start.reading.failed)"), (.dead, "\(r.dead - start.reading.dead)"),
            (.pssMax, "\(peakPSS)"),
        ]
        for (name, q) in [(Field.p50, 0.5), (.p95, 0.95), (.max, 1)] { fields.append((name, Self.quantile(q, deltas, over: over).map { "\($0)" } ?? "")) }
        for (name, v) in [(Field.rate1m, rates.one), (.rate5m, rates.five), (.rate15m, rates.fifteen)] {
            fields.append((name, v.map { String(format: "%.2f", $0) } ?? ""))
        }
        return fields.map { ($0.0.rawValue, $0.1) }
    }

    /// The upper bound of the bucket holding quantile `q` of the minute's jobs (nil: no job; "inf"
    /// beyond the last bucket is reported as its bound).
    static func quantile(_ q: Double, _ deltas: [Double: Int], over: Int) -> Double? {
        let total = deltas.values.reduce(0, +) + over
        guard total > 0 else { return nil }
        let rank = max(1, Int((q * Double(total)).rounded(.up)))
        var seen = 0
        for b in JobDuration.buckets {
            seen += deltas[b] ?? 0
            if seen >= rank { return b }
        }
        return JobDuration.buckets.last!
    }
}
