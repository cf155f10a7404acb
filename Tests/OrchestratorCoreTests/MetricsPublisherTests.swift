@testable import OrchestratorCore
import Testing

/// `/metrics` as a pure function: values in, text out.
@Suite("MetricsPublisher (pure)")
struct MetricsPublisherTests {
    func samples(_ text: String, _ name: String) -> [String] {
        text.split(separator: "\n").map(String.init).filter { $0.hasPrefix(name + "{") || $0.hasPrefix(name + " ") }
    }

    @Test("every series exists before any event: counters at 0 for each queue and exit kind")
    func countersStartAtZero() {
        let p = MetricsPublisher()
        let text = p.text(.init(queues: [("a", .init()), ("b", .init())]))
        #expect(samples(text, "rpa_worker_starts_total") == [#"rpa_worker_starts_total{queue="a"} 0"#, #"rpa_worker_starts_total{queue="b"} 0"#])
        #expect(samples(text, "rpa_worker_exits_total").count == 12 && samples(text, "rpa_worker_exits_total").allSatisfy { $0.hasSuffix(" 0") })
        #expect(samples(text, "rpa_alert_active").contains(#"rpa_alert_active{rule="redis_down",queue=""} 0"#))
        #expect(text.contains("rpa_orchestrator_poll_seconds_count 0\n"))
    }

    @Test("starts, exits by kind and poll times are counted; queue values and workers by state are shown as passed in")
    func countsAndValues() {
        var p = MetricsPublisher()
        p.started(queue: "a")
        p.started(queue: "a")
        p.exited(queue: "a", kind: .crashed(.exited(1)))
        p.exited(queue: "a", kind: .leaseLost)
        p.observePoll(seconds: 0.003)
        var q = MetricsPublisher.QueueValues()
        q.pending = 7
        q.target = 2
        q.wanted = 3
        q.isPaused = true
        q.stats = ["done": "41", "failed": "2"]
        let workers = [MetricsPublisher.WorkerValues(queue: "a", slot: 2, isBusy: true, jobStartedAt: 1_000, pssBytes: 10),
                       MetricsPublisher.WorkerValues(queue: "a", slot: 1, isStarting: true),
                       MetricsPublisher.WorkerValues(queue: "a", slot: 3, isDraining: true)]
        let text = p.text(.init(queues: [("a", q)], workers: workers, activeAlerts: ["cap_reached:a"], redisUp: true, nowMilliseconds: 4_000))
        #expect(samples(text, "rpa_worker_starts_total") == [#"rpa_worker_starts_total{queue="a"} 2"#])
        #expect(samples(text, "rpa_worker_exits_total").contains(#"rpa_worker_exits_total{queue="a",kind="crashed"} 1"#))
        #expect(samples(text, "rpa_worker_exits_total").contains(#"rpa_worker_exits_total{queue="a",kind="lease_lost"} 1"#))
        #expect(text.contains("rpa_orchestrator_poll_seconds_bucket{le=\"0.005\"} 1\n") && text.contains("rpa_orchestrator_poll_seconds_bucket{le=\"0.002\"} 0\n"))
        #expect(samples(text, "rpa_queue_pending") == [#"rpa_queue_pending{queue="a"} 7"#])
        #expect(samples(text, "rpa_queue_wanted") == [#"rpa_queue_wanted{queue="a"} 3"#])
        #expect(samples(text, "rpa_queue_paused") == [#"rpa_queue_paused{queue="a"} 1"#])
        #expect(samples(text, "rpa_jobs_done_total") == [#"rpa_jobs_done_total{queue="a"} 41"#])
        #expect(samples(text, "rpa_workers") == [#"rpa_workers{queue="a",state="busy"} 1"#, #"rpa_workers{queue="a",state="idle"} 0"#,
                                                 #"rpa_workers{queue="a",state="starting"} 1"#, #"rpa_workers{queue="a",state="draining"} 1"#])
        #expect(samples(text, "rpa_oldest_job_age_seconds") == [#"rpa_oldest_job_age_seconds{queue="a"} 3"#])
        #expect(samples(text, "rpa_worker_pss_bytes").first == #"rpa_worker_pss_bytes{queue="a",slot="1"} 0"#, "sorted by queue and slot")
        #expect(samples(text, "rpa_alert_active").contains(#"rpa_alert_active{rule="cap_reached",queue="a"} 1"#))
        #expect(samples(text, "rpa_redis_up") == ["rpa_redis_up 1"])
        #expect(!text.contains("rpa_queue_arrival_rate"), "adaptive series only with --scaling adaptive")
    }

    @Test("a queue name is escaped the one way in every family, the job-duration histogram included")
    func queueLabelsEscaped() {
        let text = MetricsPublisher().text(.init(queues: [(#"we"ird\q"#, .init())], workers: [.init(queue: #"we"ird\q"#, slot: 1)]))
        let escaped = #"queue="we\"ird\\q""#
        for name in ["rpa_queue_pending", "rpa_worker_pss_bytes", "rpa_worker_starts_total", "rpa_job_duration_seconds_bucket", "rpa_job_duration_seconds_count"] {
            #expect(!samples(text, name).isEmpty && samples(text, name).allSatisfy { $0.contains(escaped) }, "\(name): \(samples(text, name))")
        }
    }
}
