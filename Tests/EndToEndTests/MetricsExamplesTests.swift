import Foundation
import OrchestratorCore
import Testing
import TestSupport

let promtool = "/usr/bin/promtool"

/// `/metrics` as Prometheus reads it, and the shipped Grafana dashboard and alert rules against it.
@Suite("metrics, Grafana dashboard and Prometheus rules", .requiresRedis, .serialized,
       .enabled(if: FileManager.default.isExecutableFile(atPath: promtool), "promtool is missing: scripts/test installs Debian's prometheus package"))
struct MetricsExamplesTests {
    static let examples: String = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("examples/prometheus").path) {
            url = url.deletingLastPathComponent()
        }
        return url.appendingPathComponent("examples").path
    }()

    func liveMetrics() throws -> String {
        let h = try OrchestratorHarness("prom")
        try h.push("q", count: 5)
        let o = try h.start(["--queue", "q", "--handler", "q=cat", "--metrics-listen", "127.0.0.1:0", "--max-worker-rss-mb", "500"])
        defer { o.signal(SIGTERM); o.wait() }
        var port = 0
        #expect(waitUntil {
            port = listeningPort(h.log)
            return port > 0 && (try? h.results("q").count) == 5
        }, "log: \(h.log)")
        var body = ""
        #expect(waitUntil { body = httpGet(port: port, path: "/metrics")?.body ?? ""; return body.contains(#"rpa_job_duration_seconds_count{queue="q"} 5"#) },
                "\(body)")
        return body
    }

    @Test("/metrics passes promtool check metrics, has the duration histogram, and counters exist at 0 before any event")
    func metricsArePrometheusText() throws {
        let body = try liveMetrics()
        let file = TestEnv.scratch("prom") + "/metrics.txt"
        try body.write(toFile: file, atomically: true, encoding: .utf8)
        let (status, out) = try runToEnd("/bin/sh", ["-c", "\(promtool) check metrics < \(file)"])
        #expect(status == .exited(0), "promtool: \(out)")
        for line in [#"rpa_worker_exits_total{queue="q",kind="crashed"} 0"#, #"rpa_job_duration_seconds_bucket{queue="q",le="+Inf"} 5"#,
                     #"rpa_build_info{version="\#(Version.string)"} 1"#, #"rpa_queue_retrying{queue="q"} 0"#, "process_resident_memory_bytes",
                     "rpa_worker_memory_limit_bytes 524288000", #"rpa_job_attempts_failed_total{queue="q"} 0"#] {
            #expect(body.contains(line), "missing: \(line)")
        }
    }

    @Test("every alert rule passes its promtool unit tests (alerts.test.yml: fires when it should, not when it should not)")
    func alertRulesPassTheirUnitTests() throws {
        let (status, out) = try runToEnd(promtool, ["test", "rules", "\(Self.examples)/prometheus/alerts.test.yml"])
        #expect(status == .exited(0) && out.contains("SUCCESS"), "\(out)")
    }

    @Test("the alert rules pass promtool check rules, and every rpa_ metric the rules and the dashboard use exists")
    func examplesMatchTheMetrics() throws {
        let (status, out) = try runToEnd(promtool, ["check", "rules", "\(Self.examples)/prometheus/alerts.yml"])
        #expect(status == .exited(0) && out.contains("SUCCESS"), "\(out)")
        let body = try liveMetrics()
        let exposed = Set(body.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { String($0.split(separator: " ")[2]) })
        for file in ["prometheus/alerts.yml", "grafana/rpa-orchestrator.json"] {
            let text = try String(contentsOfFile: "\(Self.examples)/\(file)", encoding: .utf8)
            let names = Set(text.matches(of: /rpa_[a-z_]+/).map { String($0.output) }.map {
                $0.replacingOccurrences(of: "_bucket", with: "").replacingOccurrences(of: "_count", with: "").replacingOccurrences(of: "_sum", with: "")
            })
            #expect(!names.isEmpty)
            for name in names where name != "rpa_orchestrator" { #expect(exposed.contains(name), "\(file) uses \(name), which /metrics does not expose") }
        }
    }
}
