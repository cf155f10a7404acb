/// Measured rates of one queue, from what each poll sees (pending, busy workers, the completed
/// counter): the service rate of one busy worker and the arrival rate, each the median of recent
/// windows, so one very long job or a burst of noise does not swing them. Pure: the caller passes
/// the clock.
public struct QueueRates: Sendable, Equatable {
    /// A window closes after this long and with at least one completion (a window with only a long
    /// job running stays open until something completes).
    public static let window: Duration = .seconds(2)
    /// Samples kept (the median is taken over them).
    public static let kept = 15
    /// Service samples needed before the estimate is used (before: the fixed formula).
    public static let warmUp = 3

    public private(set) var serviceSamples: [Double] = []
    public private(set) var arrivalSamples: [Double] = []
    private struct Reading: Sendable, Equatable {
        var at: ContinuousClock.Instant
        var pending, busy, completed: Int
        var durations: JobTime?
    }
    /// The workers' job-time counters (jobs measured, seconds spent in them), from the stats hash.
    public struct JobTime: Sendable, Equatable {
        public var jobs: Int
        public var seconds: Double
        public init(jobs: Int, seconds: Double) {
            self.jobs = jobs
            self.seconds = seconds
        }
    }
    private var timedJobs = 0
    private var timedSeconds = 0.0
    private var last: Reading?
    private var windowStart: ContinuousClock.Instant?
    private var completions = 0
    private var busySeconds = 0.0
    private var arrivals = 0

    public init(serviceSamples: [Double] = [], arrivalSamples: [Double] = []) {
        self.serviceSamples = Array(serviceSamples.suffix(Self.kept))
        self.arrivalSamples = Array(arrivalSamples.suffix(Self.kept))
    }

    /// Jobs per second one busy worker completes (nil until warmed up).
    public var serviceRate: Double? { serviceSamples.count >= Self.warmUp ? Self.median(serviceSamples) : nil }
    /// Jobs per second arriving (0 until measured).
    public var arrivalRate: Double { arrivalSamples.isEmpty ? 0 : Self.median(arrivalSamples.suffix(5)) }

    /// One poll's reading: pending now, workers busy now, the queue's completed counter (done +
    /// failed attempts) and, when the workers report them, their job-time counters: the service
    /// rate is then jobs per second of job time (exact even for jobs too short to show busy in a
    /// heartbeat); else completions per busy-worker second as sampled at each poll.
    public mutating func observe(now: ContinuousClock.Instant, pending: Int, busy: Int, completed: Int, durations: JobTime? = nil) {
        defer { last = Reading(at: now, pending: pending, busy: busy, completed: completed, durations: durations) }
        guard let last else { windowStart = now; return }
        let dt = (now - last.at).seconds
        guard dt > 0 else { return }
        let done = max(0, completed - last.completed)  // a reset counter counts as nothing
        completions += done
        busySeconds += Double(last.busy) * dt
        if let d = durations, let before = last.durations, d.jobs >= before.jobs, d.seconds >= before.seconds {
            timedJobs += d.jobs - before.jobs
            timedSeconds += d.seconds - before.seconds
        }
        arrivals += max(0, pending - last.pending + done)
        guard let start = windowStart, now - start >= Self.window else { return }
        if timedJobs > 0 && timedSeconds > 0 {
            Self.push(&serviceSamples, Double(timedJobs) / timedSeconds)
        } else if completions > 0 && busySeconds > 0 {
            Self.push(&serviceSamples, Double(completions) / busySeconds)
        }
        Self.push(&arrivalSamples, Double(arrivals) / (now - start).seconds)
        if completions > 0 || busySeconds == 0 {  // keep a window open while only long jobs run
            windowStart = now
            completions = 0
            busySeconds = 0
            timedJobs = 0
            timedSeconds = 0
        }
        arrivals = 0
    }

    static func push(_ samples: inout [Double], _ value: Double) {
        samples.append(value)
        if samples.count > kept { samples.removeFirst(samples.count - kept) }
    }

    static func median<C: Collection>(_ values: C) -> Double where C.Element == Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    /// Stored form (Redis), so a restart does not start cold: `s1,s2,…;a1,a2,…`.
    public var encoded: String {
        serviceSamples.map { String($0) }.joined(separator: ",") + ";" + arrivalSamples.map { String($0) }.joined(separator: ",")
    }

    public init?(encoded: String) {
        let parts = encoded.split(separator: ";", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        let parse = { (s: Substring) in s.split(separator: ",").compactMap { Double($0) }.filter { $0.isFinite && $0 >= 0 } }
        self.init(serviceSamples: parse(parts[0]), arrivalSamples: parse(parts[1]))
    }
}

/// `--scaling adaptive`: the workers needed to drain the current backlog by its deadline while
/// keeping up with arrivals, from measured rates. A backlog's deadline is `--drain-target` after it
/// appeared (pending went from 0 to more); aiming at a fixed deadline rather than "drain target
/// from now" keeps the need steady as the backlog shrinks, instead of decaying forever.
public struct AdaptivePolicy: Sendable, Equatable {
    public var drainTarget: Duration

    public init(drainTarget: Duration) { self.drainTarget = drainTarget }

    public struct Need: Sendable, Equatable {
        /// Workers wanted (before the caps).
        public var workers: Int
        /// Jobs per second per busy worker, jobs per second arriving.
        public var serviceRate: Double
        public var arrivalRate: Double
        /// Seconds until the backlog's deadline.
        public var secondsLeft: Double

        /// `(adaptive: 1.8 jobs/s/worker, drain 4m10s)`, appended to the seed's lines.
        public var note: String {
            "(adaptive: \(Self.rate(serviceRate)) jobs/s/worker, drain \(Self.clock(secondsLeft)))"
        }

        public static func rate(_ r: Double) -> String { r >= 10 ? String(format: "%.0f", r) : String(format: "%.1f", r) }
        public static func clock(_ s: Double) -> String {
            let t = Int(s.rounded())
            return t >= 60 ? "\(t / 60)m\(String(format: "%02d", t % 60))s" : "\(t)s"
        }

        /// Seconds to drain `pending` with `workers` at the measured rates (nil: never, arrivals outpace them).
        public func drainSeconds(pending: Int, workers: Int) -> Double? {
            let net = Double(workers) * serviceRate - arrivalRate
            if pending == 0 { return 0 }
            return net > 0 ? Double(pending) / net : nil
        }
    }

    /// The need, or nil while the rates are not measured yet (then the fixed formula applies).
    /// `backlogSince`: when the current backlog appeared.
    public func need(pending: Int, rates: QueueRates, backlogSince: ContinuousClock.Instant?, now: ContinuousClock.Instant) -> Need? {
        guard let rate = rates.serviceRate, rate > 0 else { return nil }
        let deadline = (backlogSince ?? now) + drainTarget
        // Past (or near) the deadline: aim at a tenth of the target from now, as fast as the caps allow.
        let left = max((deadline - now).seconds, drainTarget.seconds / 10)
        let wanted = Double(pending) / (rate * left) + rates.arrivalRate / rate
        let workers = pending == 0 && rates.arrivalRate == 0 ? 0 : max(1, Int((wanted - 1e-9).rounded(.up)))
        return Need(workers: workers, serviceRate: rate, arrivalRate: rates.arrivalRate, secondsLeft: left)
    }
}
