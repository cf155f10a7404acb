import Foundation
import OrchestratorCore
import Testing

/// A queue and its fleet, simulated second by second with an injected clock: each worker completes
/// 1/duration jobs per second while it has work; the reconcile step decides every second, as the
/// orchestrator does with its default poll. No process, no Redis.
struct Simulation {
    struct Result: CustomStringConvertible {
        var drainSeconds: Int?
        var workerMinutes: Double
        var maxWorkers: Int
        var scaleChanges: Int
        var lines: [String]
        var description: String {
            "drain \(drainSeconds.map { "\($0) s" } ?? "not in time"), \(String(format: "%.1f", workerMinutes)) worker-min, max \(maxWorkers) workers, \(scaleChanges) scale changes"
        }
    }

    var policy = ScalingPolicy(maxPerQueue: 10, maxTotal: 20, scaleDownDelay: .seconds(60))
    var adaptive: AdaptivePolicy?
    var jobs: Int
    /// Seconds per job, as a function of the simulated second (a slowdown, noise).
    var duration: (Int) -> Double
    /// Jobs arriving in a given second.
    var arrivals: (Int) -> Int = { _ in 0 }
    var horizon = 7200
    /// The estimate at the start: cold, or known from an earlier backlog (restored from Redis).
    var initialRates = QueueRates()

    func run() -> Result {
        let t0 = ContinuousClock().now
        let reconcile = Reconcile(policy: policy, summaryInterval: .seconds(3600))
        var pending = Double(jobs), completedTotal = 0.0
        var workers: [WorkerSnapshot] = []
        var nextPID: Int32 = 1
        var rates = initialRates
        var snapshot = QueueSnapshot(name: "q", pending: jobs)
        var backlogSince: ContinuousClock.Instant? = t0
        var result = Result(drainSeconds: nil, workerMinutes: 0, maxWorkers: 0, scaleChanges: 0, lines: [])
        for second in 0..<horizon {
            let now = t0 + .seconds(second)
            pending += Double(arrivals(second))
            if pending >= 1 && backlogSince == nil { backlogSince = now }
            let active = workers.filter { !$0.isDraining }
            let busy = min(active.count, Int(pending.rounded(.up)))
            workers = workers.filter { !$0.isDraining }  // a drained worker is gone after its job (≤ 1 s here)
            rates.observe(now: now, pending: Int(pending.rounded(.up)), busy: busy, completed: Int(completedTotal))
            snapshot.pending = Int(pending.rounded(.up))
            snapshot.adaptive = adaptive?.need(pending: snapshot.pending, rates: rates, backlogSince: backlogSince, now: now)
            let plan = reconcile.plan(queues: [snapshot], workers: workers.map { w in
                var w = w
                w.isBusy = workers.firstIndex(of: w)! < busy
                return w
            }, now: now)
            if let o = plan.queues["q"] { snapshot.lowerTargetSince = o.lowerTargetSince; snapshot.lastSummary = o.lastSummary }
            if !plan.actions.isEmpty { result.scaleChanges += 1 }
            result.lines += plan.lines
            for action in plan.actions {
                switch action {
                case .spawn: workers.append(WorkerSnapshot(pid: nextPID, queue: "q", startedAt: now)); nextPID += 1
                case .terminate(let pid, _): if let i = workers.firstIndex(where: { $0.pid == pid }) { workers[i].isDraining = true }
                }
            }
            let serving = workers.filter { !$0.isDraining }.count
            result.maxWorkers = max(result.maxWorkers, workers.count)
            result.workerMinutes += Double(workers.count) / 60
            let done = min(pending, Double(serving) / duration(second))
            pending -= done
            completedTotal += done
            if pending < 1e-9 {
                pending = 0
                backlogSince = nil
                if result.drainSeconds == nil && second >= 1 && arrivals(second + 1) == 0 { result.drainSeconds = second + 1 }
            }
            if result.drainSeconds != nil && workers.isEmpty { break }
        }
        return result
    }
}

@Suite("adaptive scaling (pure: rates, need, simulation)")
struct AdaptiveScalingTests {
    let t0 = ContinuousClock().now

    @Test("service and arrival rates are medians of windows; warm-up falls back; a long job does not swing the rate; stored form round-trips")
    func rates() {
        var r = QueueRates()
        // 4 busy workers, 2 jobs/s each, 2 arrivals/s.
        var completed = 0, pending = 100
        for s in 0...12 {
            r.observe(now: t0 + .seconds(s), pending: pending, busy: 4, completed: completed)
            completed += 8
            pending += 2 - 8
            if s == 2 { #expect(r.serviceRate == nil, "not warmed up yet") }
        }
        #expect(abs((r.serviceRate ?? 0) - 2) < 0.01, "\(r.serviceSamples)")
        #expect(abs(r.arrivalRate - 2) < 0.01, "\(r.arrivalSamples)")
        // Then only one worker's 10-minute job runs: no completion, so no new sample.
        completed -= 8  // the counter as last observed
        let before = r.serviceSamples
        r.observe(now: t0 + .seconds(13), pending: pending, busy: 1, completed: completed)
        r.observe(now: t0 + .seconds(16), pending: pending, busy: 1, completed: completed)
        #expect(r.serviceSamples == before)
        #expect(QueueRates(encoded: r.encoded) == QueueRates(serviceSamples: r.serviceSamples, arrivalSamples: r.arrivalSamples))
        #expect(QueueRates(encoded: "garbage") == nil)
    }

    @Test("the need drains the backlog by its deadline and keeps up with arrivals")
    func need() throws {
        let rates = QueueRates(serviceSamples: [0.5, 0.5, 0.5], arrivalSamples: [1])
        let p = AdaptivePolicy(drainTarget: .seconds(300))
        let n = try #require(p.need(pending: 322, rates: rates, backlogSince: t0, now: t0))
        // 322 / (0.5 × 300) = 2.15, plus 1 / 0.5 = 2 to keep up: 5 workers.
        #expect(n.workers == 5 && n.note == "(adaptive: 0.5 jobs/s/worker, drain 5m00s)")
        let later = try #require(p.need(pending: 161, rates: rates, backlogSince: t0, now: t0 + .seconds(150)))
        #expect(later.workers == 5, "on track: the need stays steady as the backlog shrinks")
        #expect(p.need(pending: 322, rates: QueueRates(), backlogSince: t0, now: t0) == nil, "cold: the fixed formula applies")
        #expect(p.need(pending: 0, rates: QueueRates(serviceSamples: [1, 1, 1]), backlogSince: nil, now: t0)?.workers == 0)
    }

    @Test("simulation: adaptive meets its drain target where the caps allow, uses fewer worker-minutes when jobs are fast, and says when it cannot")
    func simulation() {
        let five = AdaptivePolicy(drainTarget: .seconds(300))
        let scenarios: [(String, Simulation)] = [
            ("322 jobs × 0.25 s, cold", Simulation(jobs: 322, duration: { _ in 0.25 })),
            ("322 jobs × 0.25 s, rate known", Simulation(jobs: 322, duration: { _ in 0.25 }, initialRates: QueueRates(serviceSamples: [4, 4, 4]))),
            ("322 jobs × 2 s", Simulation(jobs: 322, duration: { _ in 2 })),
            ("322 jobs × 60 s", Simulation(jobs: 322, duration: { _ in 60 })),
            ("322 jobs × 60 s, caps 100", Simulation(policy: ScalingPolicy(maxPerQueue: 100, maxTotal: 100, scaleDownDelay: .seconds(60)),
                                                      jobs: 322, duration: { _ in 60 })),
            ("2000 jobs × 2 s, 4× slower after 60 s", Simulation(jobs: 2000, duration: { $0 < 60 ? 2 : 8 })),
            ("600 jobs × 1 s ± 50 % noise", Simulation(jobs: 600, duration: { 1 + 0.5 * sin(Double($0) * 1.7) })),
            ("arrivals 12/s, jobs 2 s (needs 24 > cap 10)", Simulation(jobs: 100, duration: { _ in 2 }, arrivals: { $0 < 600 ? 12 : 0 }, horizon: 1200)),
        ]
        var table = ["| scenario | fixed (50 jobs/worker) | adaptive, --drain-target 5m |", "|---|---|---|"]
        var outcomes: [String: (Simulation.Result, Simulation.Result)] = [:]
        for (name, sim) in scenarios {
            var a = sim
            a.adaptive = five
            let fixed = sim.run(), adaptive = a.run()
            outcomes[name] = (fixed, adaptive)
            table.append("| \(name) | \(fixed) | \(adaptive) |")
        }
        print(table.joined(separator: "\n"))
        let fast = outcomes["322 jobs × 0.25 s, rate known"]!
        #expect(fast.1.drainSeconds.map { $0 <= 360 } == true, "drain target met within 20 %: \(fast.1)")
        #expect(fast.1.workerMinutes < fast.0.workerMinutes, "fewer worker-minutes than fixed when jobs are fast: \(fast)")
        let two = outcomes["322 jobs × 2 s"]!.1
        #expect(two.drainSeconds.map { $0 <= 360 } == true, "drain target met within 20 %: \(two)")
        let roomy = outcomes["322 jobs × 60 s, caps 100"]!.1
        #expect(roomy.drainSeconds.map { $0 <= 360 } == true, "reachable under the caps: met within 20 %: \(roomy)")
        let capped = outcomes["322 jobs × 60 s"]!.1
        #expect(capped.lines.contains { $0.contains("the drain target cannot be met under the caps") }, "\(capped.lines)")
        let slower = outcomes["2000 jobs × 2 s, 4× slower after 60 s"]!.1
        #expect(slower.maxWorkers == 10, "the target rises when jobs slow down: \(slower)")
        let noisy = outcomes["600 jobs × 1 s ± 50 % noise"]!.1
        #expect(noisy.scaleChanges <= 6, "no flapping under noise: \(noisy)")
        let flood = outcomes["arrivals 12/s, jobs 2 s (needs 24 > cap 10)"]!.1
        #expect(flood.lines.contains { $0.contains("cannot be met") && $0.contains("never (arrivals outpace it)") }, "\(flood.lines.prefix(5))")
    }
}

@Suite("measured rates from the workers' job time (pure)")
struct JobTimeRateTests {
    @Test("jobs too short to show busy: the service rate comes from the job-time counters (jobs per second of job time)")
    func fromDurations() {
        let t0 = ContinuousClock().now
        var r = QueueRates()
        var jobs = 0, seconds = 0.0
        for s in 0...12 {
            // 4 workers, 20 ms jobs: 200 jobs/s of 4 s of job time per second; never busy in a heartbeat.
            r.observe(now: t0 + .seconds(s), pending: 1000, busy: 0, completed: jobs, durations: .init(jobs: jobs, seconds: seconds))
            jobs += 200
            seconds += 4
        }
        #expect(r.serviceRate.map { abs($0 - 50) < 0.001 } == true, "50 jobs/s per busy worker: \(String(describing: r.serviceRate))")
    }
}
