import OrchestratorCore
import Testing

@Suite("metrics and health endpoints (pure)")
struct MetricsServerTests {
    let now = ContinuousClock().now
    func answer(_ method: String, _ target: String, healthy: Bool = true, age: Duration? = .seconds(1)) -> (status: String, body: String) {
        MetricsServer.answer(method: method, target: target, snapshot: ("rpa_redis_up 1\n", healthy, age.map { now - $0 }),
                             now: now, liveWindow: .seconds(30))
    }

    @Test("/livez answers whether the loop runs, /readyz (and /healthz) whether Redis is readable and not draining")
    func liveness() {
        #expect(answer("GET", "/livez", healthy: false).status == "200 OK", "a Redis outage must not restart the orchestrator")
        #expect(answer("GET", "/livez", age: .seconds(31)).status == "503 Service Unavailable")
        #expect(answer("GET", "/livez", age: nil).status == "503 Service Unavailable")
        #expect(answer("GET", "/readyz", healthy: false).status == "503 Service Unavailable")
        #expect(answer("GET", "/healthz", healthy: false).status == "503 Service Unavailable")
        #expect(answer("GET", "/readyz").status == "200 OK" && answer("GET", "/healthz").status == "200 OK")
    }

    @Test("the query string is ignored, HEAD is answered, other methods get 405, unknown paths 404")
    func requests() {
        #expect(answer("GET", "/metrics?x=1") == ("200 OK", "rpa_redis_up 1\n"))
        #expect(answer("HEAD", "/healthz").status == "200 OK")
        #expect(answer("POST", "/metrics").status == "405 Method Not Allowed")
        #expect(answer("GET", "/nope").status == "404 Not Found")
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
