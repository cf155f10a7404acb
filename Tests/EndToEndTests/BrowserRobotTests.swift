import Foundation
import OrchestratorCore
import Testing
import TestSupport

/// The mock portal (examples/rpa/portal.py) on a free loopback port, and the Playwright robot
/// (examples/rpa/robot.py) run by `RPA_PYTHON`, the venv `scripts/test` creates.
final class BrowserEnv: @unchecked Sendable {
    static let python = ProcessInfo.processInfo.environment["RPA_PYTHON"]
    static let examples: String = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("examples/rpa/robot.py").path) {
            url = url.deletingLastPathComponent()
        }
        return url.appendingPathComponent("examples/rpa").path
    }()
    static var robot: String { "\(python ?? "python3") \(examples)/robot.py" }
    static let chromium = "/usr/lib/chromium/chromium"

    let portal: Launched
    let url: String

    init(sessionMinutes: Double = 30) throws {
        let dir = TestEnv.scratch("portal")
        portal = try Launched(Self.python ?? "python3", ["\(Self.examples)/portal.py", "--port", "0", "--port-file", "\(dir)/port",
                                                         "--session-minutes", "\(sessionMinutes)"],
                              outputPath: "\(dir)/portal.log")
        var port = ""
        waitUntil(timeout: .seconds(10)) {
            port = (try? String(contentsOfFile: "\(dir)/port", encoding: .utf8)) ?? ""
            return !port.isEmpty
        }
        url = "http://127.0.0.1:\(port)"
    }

    deinit { portal.signal(SIGKILL) }

    /// The portal's counters: logins, submissions, confirmations by record.
    func stats() -> [String: Any] {
        guard let port = Int(url.split(separator: ":").last ?? ""), let body = httpGet(port: port, path: "/stats")?.body else { return [:] }
        return jsonObject(Array(body.utf8))
    }

    /// Environment for an orchestrator running the robot against this portal.
    var env: [String: String] { ["PORTAL_URL": url, "RPA_USER": "robot", "RPA_PASSWORD": "secret", "ROBOT_TIMEOUT_MS": "20000"] }
}

/// Live Chromium processes (the browser binary, any role), optionally only descendants of `root`.
func chromiumProcesses(under root: pid_t? = nil) -> [pid_t] {
    let all = processesMatching(BrowserEnv.chromium)
    // The dashboard's browser test may run meanwhile: its Chromium is not a robot's.
    guard let root else { return all.filter { !descendsFromDashboardCheck($0) } }
    let tree = Set(ProcessTree.descendants(of: root).filter { !$0.isZombie }.map(\.pid))
    return all.filter { tree.contains($0) }
}

func descendsFromDashboardCheck(_ pid: pid_t) -> Bool {
    var p = pid
    for _ in 0..<64 {
        guard p > 1, let entry = ProcessTree.entry(p) else { return false }
        if let data = FileManager.default.contents(atPath: "/proc/\(p)/cmdline"),
           String(decoding: data, as: UTF8.self).contains("dashboard_check.py") { return true }
        p = entry.ppid
    }
    return false
}

/// The main browser process among `pids`: the Chromium process without `--type=`.
func browserMain(among pids: [pid_t]) -> pid_t? {
    pids.first { pid in
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        return !String(decoding: data, as: UTF8.self).contains("--type=")
    }
}

extension Trait where Self == ConditionTrait {
    static var requiresBrowser: Self {
        .enabled(if: BrowserEnv.python != nil && FileManager.default.isExecutableFile(atPath: BrowserEnv.chromium),
                 "RPA_PYTHON is not set or Debian's chromium is missing: run through scripts/test, which installs both")
    }
}

@Suite("a real Playwright/Chromium robot under the orchestrator", .requiresRedis, .requiresBrowser, .serialized)
struct BrowserRobotTests {
    func job(_ record: String, visit: String? = nil) -> String {
        var fields = ["\"record\":\"\(record)\""]
        if let visit { fields.append("\"visit\":\"\(visit)\"") }
        return "{" + fields.joined(separator: ",") + "}"
    }

    func start(_ h: OrchestratorHarness, _ portal: BrowserEnv, _ args: [String]) throws -> Launched {
        try h.start(["--queue", "conferencia", "--queue", "emissao",
                     "--handler", "conferencia=\(BrowserEnv.robot)", "--handler", "emissao=\(BrowserEnv.robot)",
                     "--handler-mode", "persistent", "--poll-interval", "0.2", "--scale-down-delay", "2"] + args, env: portal.env)
    }

    /// TERM the orchestrator: running browser jobs finish, then it exits 0.
    func drain(_ o: Launched) {
        o.signal(SIGTERM)
        #expect(o.wait(timeout: .seconds(60)) == .exited(0))
    }

    /// No Chromium process anywhere on the host (not only under the orchestrator) within 5 s.
    func expectNoBrowserLeft() {
        #expect(waitUntil(timeout: .seconds(5)) { chromiumProcesses().isEmpty }, "no browser left anywhere: \(chromiumProcesses())")
    }

    /// Waits until the single worker is busy with its browser up; returns the browser's processes.
    func browserOfBusyWorker(_ h: OrchestratorHarness, _ o: Launched) -> [pid_t] {
        var tree: [pid_t] = []
        #expect(waitUntil(timeout: .seconds(30)) {
            tree = h.workers(of: o.pid).flatMap { chromiumProcesses(under: $0.pid) }
            return (try? h.busyWorkers().count) == 1 && tree.count >= 3
        }, "log: \(h.log)")
        return tree
    }

    func workerLogs(_ h: OrchestratorHarness) -> String {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: h.logDir)) ?? []
        return names.filter { $0.hasPrefix("worker-") }.compactMap { try? String(contentsOfFile: "\(h.logDir)/\($0)", encoding: .utf8) }.joined()
    }

    @Test("60 jobs over two queues on 3 + 1 browser workers: 60 ok results with the portal's confirmation numbers, one login per browser start")
    func sixtyJobs() throws {
        let portal = try BrowserEnv()
        let h = try OrchestratorHarness("rpa60")
        try h.redis.lpush(h.keys("conferencia").pending, strings: (1...45).map { job("C-\($0)") })
        try h.redis.lpush(h.keys("emissao").pending, strings: (1...15).map { job("E-\($0)") })
        let o = try start(h, portal, ["--jobs-per-worker", "15"])
        #expect(waitUntil(timeout: .seconds(120)) { ((try? h.results("conferencia").count) ?? 0) + ((try? h.results("emissao").count) ?? 0) == 60 },
                "log: \(h.log)")
        #expect(h.log.contains("[ESCALAR] conferencia: 45 jobs → criando 3 worker(s)"))
        #expect(h.log.contains("[ESCALAR] emissao: 15 jobs → criando 1 worker(s)"))
        let results = try h.results("conferencia") + h.results("emissao")
        let confirmations = portal.stats()["confirmations"] as? [String: String] ?? [:]
        for r in results {
            let output = r["output"] as? [String: Any]
            let record = output?["record"] as? String ?? "?"
            #expect(r["status"] as? String == "ok" && output?["confirmation"] as? String == confirmations[record], "\(r)")
        }
        #expect(Set(results.compactMap { ($0["output"] as? [String: Any])?["record"] as? String }).count == 60)
        drain(o)
        let starts = workerLogs(h).components(separatedBy: "browser.started").count - 1
        #expect(starts == 4, "one browser per worker, never restarted: \(starts)")
        #expect(portal.stats()["logins"] as? Int == starts, "exactly one login per browser start")
        expectNoBrowserLeft()
    }

    @Test("leaking pages: --max-worker-rss-mb (the tree's PSS, browser included) recycles workers after a job; every job done, no browser left")
    func leakRecycling() throws {
        let portal = try BrowserEnv()
        let h = try OrchestratorHarness("rpaleak")
        // Each job adds 100 MB to the robot's leaking tab; a fresh robot tree is ~600 MB PSS.
        try h.redis.lpush(h.keys("conferencia").pending, strings: (1...10).map { job("L-\($0)", visit: "/leak?mb=100") })
        let o = try start(h, portal, ["--max-per-queue", "1", "--max-worker-rss-mb", "900"])
        #expect(waitUntil(timeout: .seconds(180)) { (try? h.results("conferencia").count) == 10 }, "log: \(h.log)")
        let results = try h.results("conferencia")
        #expect(results.allSatisfy { $0["status"] as? String == "ok" }, "\(results)")
        let recycled = h.log.components(separatedBy: "exit 75").count - 1
        #expect(recycled >= 2, "recycled \(recycled) time(s); log: \(h.log)")
        #expect(workerLogs(h).contains("process tree memory (PSS) over the limit"))
        drain(o)
        expectNoBrowserLeft()
    }

    @Test("a hung page past --job-timeout: the attempt fails, that browser's whole tree is killed, a fresh robot takes the next job")
    func hungPage() throws {
        let portal = try BrowserEnv()
        let h = try OrchestratorHarness("rpahang")
        try h.redis.lpush(h.keys("conferencia").pending, strings: [job("H-1", visit: "/hang")])
        let o = try start(h, portal, ["--max-per-queue", "1", "--min-per-queue", "1", "--job-timeout", "10s", "--max-attempts", "1"])
        let hungTree = browserOfBusyWorker(h, o)
        let worker = try #require(h.workers(of: o.pid).first)
        #expect(waitUntil(timeout: .seconds(20)) { (try? h.redis.llen(h.keys("conferencia").dead)) == 1 }, "log: \(h.log)")
        let dead = jsonObject(try #require(try h.redis.lrange(h.keys("conferencia").dead).first))
        #expect((dead["error"] as? String ?? "").contains("timed out after 10s"))
        #expect(waitUntil(timeout: .seconds(3)) { hungTree.allSatisfy { ProcessTree.entry($0) == nil } },
                "the hung browser's processes must all be gone: \(hungTree.filter { ProcessTree.entry($0) != nil })")
        try h.redis.lpush(h.keys("conferencia").pending, strings: [job("H-2")])
        #expect(waitUntil(timeout: .seconds(60)) { (try? h.results("conferencia").first?["status"] as? String) == "ok" }, "log: \(h.log)")
        #expect(h.workers(of: o.pid).first?.pid == worker.pid, "the worker itself did not die")
        drain(o)
        expectNoBrowserLeft()
    }

    @Test("browser SIGKILLed mid-job: that attempt fails and is retried, the robot comes back, the worker lives; then a worker SIGKILLed with a hung browser leaves nothing within 5 s")
    func crashes() throws {
        let portal = try BrowserEnv()
        let h = try OrchestratorHarness("rpacrash")
        try h.redis.lpush(h.keys("conferencia").pending, strings: [job("K-1", visit: "/slow?ms=4000")])
        let o = try start(h, portal, ["--max-per-queue", "1", "--min-per-queue", "1"])
        _ = browserOfBusyWorker(h, o)
        let worker = try #require(h.workers(of: o.pid).first)
        // Mid-job: the robot has started its browser and logged in (its job.start line), the slow page is loading.
        #expect(waitUntil(timeout: .seconds(30)) { workerLogs(h).contains("job.start id=") }, "\(workerLogs(h))")
        usleep(1_000_000)
        kill(try #require(browserMain(among: h.workers(of: o.pid).flatMap { chromiumProcesses(under: $0.pid) })), SIGKILL)
        #expect(waitUntil(timeout: .seconds(60)) { (try? h.results("conferencia").first?["status"] as? String) == "ok" }, "log: \(h.log)")
        let record = try #require(try h.results("conferencia").first)
        #expect(record["attempts"] as? Int == 2, "the killed attempt counted, the retry succeeded: \(record)")
        #expect(workerLogs(h).contains("browser died"))
        #expect(h.workers(of: o.pid).first?.pid == worker.pid, "the worker itself did not die")

        // Now a hung browser (SIGSTOP) under a worker that is SIGKILLed.
        try h.redis.lpush(h.keys("conferencia").pending, strings: [job("K-2", visit: "/slow?ms=20000")])
        #expect(waitUntil(timeout: .seconds(30)) {
            (try? h.busyWorkers().count) == 1 && browserMain(among: chromiumProcesses(under: worker.pid)) != nil
        }, "log: \(h.log)")
        let victimTree = ProcessTree.descendants(of: worker.pid).filter { !$0.isZombie }.map(\.pid)
        let victimBrowser = try #require(browserMain(among: chromiumProcesses(under: worker.pid)))
        kill(victimBrowser, SIGSTOP)
        kill(worker.pid, SIGKILL)
        #expect(waitUntil(timeout: .seconds(5)) { victimTree.allSatisfy { ProcessTree.entry($0).map(\.isZombie) ?? true } },
                "alive 5 s after the worker's death: \(victimTree.filter { ProcessTree.entry($0).map { !$0.isZombie } ?? false })")
        o.signal(SIGTERM)
        #expect(waitUntil { h.log.contains("drain.begin") })
        drain(o)
        expectNoBrowserLeft()
    }

    @Test("the portal's session expires between jobs: the robot logs in again and the job still succeeds")
    func sessionExpiry() throws {
        let portal = try BrowserEnv(sessionMinutes: 0.05)  // 3 s sessions
        let h = try OrchestratorHarness("rpasession")
        try h.redis.lpush(h.keys("conferencia").pending, strings: [job("S-1")])
        let o = try start(h, portal, ["--max-per-queue", "1", "--min-per-queue", "1"])
        #expect(waitUntil(timeout: .seconds(60)) { (try? h.results("conferencia").count) == 1 }, "log: \(h.log)")
        usleep(3_500_000)  // the session cookie is now stale
        try h.redis.lpush(h.keys("conferencia").pending, strings: [job("S-2")])
        #expect(waitUntil(timeout: .seconds(60)) { (try? h.results("conferencia").count) == 2 }, "log: \(h.log)")
        let results = try h.results("conferencia")
        #expect(results.allSatisfy { $0["status"] as? String == "ok" && $0["attempts"] as? Int == 1 }, "\(results)")
        #expect(workerLogs(h).contains("session.expired"))
        #expect(portal.stats()["logins"] as? Int == 2, "one login at start, one after the expiry")
        drain(o)
    }

    @Test("20 identical payloads on 4 browser workers all end ok with attempts 1")
    func identicalPayloads() throws {
        let portal = try BrowserEnv()
        let h = try OrchestratorHarness("rpasame")
        try h.redis.lpush(h.keys("conferencia").pending, strings: Array(repeating: job("DAILY-REPORT"), count: 20))
        let o = try start(h, portal, ["--jobs-per-worker", "5"])
        #expect(waitUntil(timeout: .seconds(120)) { (try? h.results("conferencia").count) == 20 }, "log: \(h.log)")
        let results = try h.results("conferencia")
        #expect(results.allSatisfy { $0["status"] as? String == "ok" && $0["attempts"] as? Int == 1 }, "\(results)")
        #expect(try h.redis.llen(h.keys("conferencia").dead) == 0)
        #expect(portal.stats()["submissions"] as? Int == 20)
        drain(o)
    }

    @Test("TERM while 4 browser jobs run: they finish, their results are pushed, exit 0, no browser left")
    func drainWithBrowsers() throws {
        let portal = try BrowserEnv()
        let h = try OrchestratorHarness("rpadrain")
        try h.redis.lpush(h.keys("conferencia").pending, strings: (1...4).map { job("D-\($0)", visit: "/slow?ms=3000") })
        let o = try start(h, portal, ["--jobs-per-worker", "1", "--max-per-queue", "4"])
        #expect(waitUntil(timeout: .seconds(60)) { (try? h.busyWorkers().count) == 4 }, "log: \(h.log)")
        drain(o)
        let results = try h.results("conferencia")
        #expect(results.count == 4 && results.allSatisfy { $0["status"] as? String == "ok" }, "\(results)")
        #expect(try h.pending("conferencia") == 0 && h.processingLists("conferencia").isEmpty)
        expectNoBrowserLeft()
    }
}
