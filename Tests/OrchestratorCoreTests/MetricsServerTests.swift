@testable import Dashboard
import OrchestratorCore
import Testing

@Suite("metrics and health endpoints (pure)")
struct MetricsServerTests {
    let now = ContinuousClock().now
    func answer(_ probe: HealthProbe, healthy: Bool = true, age: Duration? = .seconds(1)) -> (status: Int, body: String) {
        probe.answer(("rpa_redis_up 1\n", healthy, age.map { now - $0 }), now: now, liveWindow: .seconds(30))
    }

    @Test("/livez answers whether the loop runs, /readyz (and /healthz) whether Redis is readable and not draining; /metrics the text")
    func liveness() {
        #expect(answer(.live, healthy: false).status == 200, "a Redis outage must not restart the orchestrator")
        #expect(answer(.live, age: .seconds(31)).status == 503)
        #expect(answer(.live, age: nil).status == 503)
        #expect(answer(.ready, healthy: false).status == 503)
        #expect(answer(.ready).status == 200)
        #expect(answer(.metrics) == (200, "rpa_redis_up 1\n"))
        #expect(HealthProbe.metrics.answer(nil, now: now, liveWindow: .seconds(30)).status == 404, "orchestrator dashboard serves no /metrics")
    }

    @Test("listen addresses: host names, [IPv6], an empty host is loopback; bad ports name their source")
    func listenAddresses() throws {
        #expect(try HTTPSettings.split("localhost:9464", source: "--metrics-listen") == ("localhost", 9464))
        #expect(try HTTPSettings.split("[::1]:9464", source: "--metrics-listen") == ("::1", 9464))
        #expect(try HTTPSettings.split(":9464", source: "--metrics-listen") == ("127.0.0.1", 9464))
        #expect(try HTTPSettings.split("0.0.0.0:9464", source: "--metrics-listen") == ("0.0.0.0", 9464))
        #expect(throws: ConfigError(flag: "--metrics-listen (from METRICS_LISTEN)",
                                    message: "expected HOST:PORT with a port from 0 to 65535, got 'h:99999'")) {
            try HTTPSettings.split("h:99999", source: "--metrics-listen (from METRICS_LISTEN)")
        }
    }

    @Test("every label value is escaped the one way the exposition format wants, histogram labels included",
          arguments: [("plain", #"plain"#), (#"a"b"#, #"a\"b"#), (#"back\slash"#, #"back\\slash"#), ("two\nlines", #"two\nlines"#)])
    func labelEscaping(_ value: String, _ escaped: String) {
        var text = MetricsText()
        text.add("rpa_x", "gauge", "x", [([("queue", value)], 1)])
        text.addHistogram("rpa_h", "h", [(labels: [("queue", value)], buckets: [("+Inf", 2)], count: 2, sum: 0.5)])
        let lines = text.text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map(String.init)
        #expect(lines == ["rpa_x{queue=\"\(escaped)\"} 1", "rpa_h_bucket{queue=\"\(escaped)\",le=\"+Inf\"} 2",
                          "rpa_h_sum{queue=\"\(escaped)\"} 0.5", "rpa_h_count{queue=\"\(escaped)\"} 2"], "\(text.text)")
    }
}
