import Foundation
import OrchestratorCore
import Testing
import TestSupport

@Suite("the dashboard in a real browser (Chromium through Playwright)", .requiresRedis, .requiresBrowser)
struct DashboardBrowserTests {
    static let script: String = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("Tests/browser/dashboard_check.py").path) {
            url = url.deletingLastPathComponent()
        }
        return url.appendingPathComponent("Tests/browser/dashboard_check.py").path
    }()

    @Test("both queues; 300 jobs show on the page within 3 s and the chart grows; dead letters in a table, opened in a panel (an <img onerror> payload shown as text), requeued from the page and found done by GET /api/jobs/ID, deleted; job search; chart hover read-out; pause/resume with the token; 401 without; Redis down and back; the viewer has no actions (403); no console errors")
    func browser() throws {
        let redis = try PrivateRedis()
        defer { redis.stop() }
        let dir = TestEnv.scratch("dbrowser")
        let token = "browser-\(UInt64.random(in: 1...UInt64.max))"
        // emissao fails (its error naming the payload) until the test creates the flag file, then echoes the payload.
        let flag = "\(dir)/emissao-ok"
        let emissao = "emissao=if test -e \(flag); then cat; else printf 'rejected: %s\\n' \"$(cat)\" >&2; exit 3; fi"
        let o = try Launched(TestEnv.orchestrator, ["--queue", "conferencia", "--queue", "emissao", "--handler", "conferencia=sleep 1", "--handler", emissao,
                                                    "--max-attempts", "1", "--http-listen", "127.0.0.1:0", "--poll-interval", "0.5", "--log-dir", "\(dir)/logs"],
                             env: ["REDIS_URL": redis.url, "HTTP_TOKEN": token], outputPath: "\(dir)/orchestrator.txt")
        defer { o.signal(SIGTERM); o.signal(SIGTERM); _ = o.wait() }
        let viewer = try Launched(TestEnv.orchestrator, ["dashboard", "--http-listen", "127.0.0.1:0"], env: ["REDIS_URL": redis.url],
                                  outputPath: "\(dir)/viewer.txt")
        defer { viewer.signal(SIGTERM); _ = viewer.wait() }
        var port = 0, viewerPort = 0
        #expect(waitUntil { port = listeningPort(o.output); viewerPort = listeningPort(viewer.output); return port > 0 && viewerPort > 0 },
                "\(o.output)\n\(viewer.output)")
        let docs = URL(fileURLWithPath: Self.script).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/dashboard.png").path
        let config: [String: Any] = [
            "url": "http://127.0.0.1:\(port)/", "viewer_url": "http://127.0.0.1:\(viewerPort)/", "token": token, "redis_port": redis.port, "out": dir, "flag": flag,
            "redis_stop": ["redis-cli", "-p", "\(redis.port)", "shutdown"],
            "redis_restart": ["redis-server", "--port", "\(redis.port)", "--bind", "127.0.0.1", "--dir", redis.dir, "--save", "", "--appendonly", "yes",
                              "--daemonize", "yes", "--logfile", "\(redis.dir)/redis2.log"],
            "screenshot": ProcessInfo.processInfo.environment["UPDATE_SCREENSHOT"] == "1" ? docs : "",
        ]
        let json = String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self)
        let check = try Launched(BrowserEnv.python!, [Self.script, json], outputPath: "\(dir)/check.txt")
        let status = check.wait(timeout: .seconds(180))
        if status == nil { check.signal(SIGKILL) }
        print(check.output.split(separator: "\n").filter { $0.hasPrefix("ok ") || $0.hasPrefix("FAIL") }.map { "  browser: \($0)" }.joined(separator: "\n"))
        #expect(status == .exited(0), "\(check.output)\norchestrator log tail: \(o.output.suffix(1500))")
        #expect(check.output.contains("dashboard browser check: all ok"))
        #expect(FileManager.default.fileExists(atPath: "\(dir)/dashboard.png"), "screenshot under load saved in \(dir)")
    }
}
