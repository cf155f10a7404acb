import Foundation
import OrchestratorCore
import Testing
import TestSupport

/// Full runs of the built binaries with real signals. Serialized: each starts many processes.
@Suite("orchestrator end to end", .requiresRedis, .serialized)
struct OrchestratorTests {
    @Test("322 + 3 pending → exactly 7 + 1 workers, [ESCALAR] lines, queue and slot in ps; TERM drains to exit 0")
    func seedScenario() throws {
        let h = try OrchestratorHarness("seed")
        try h.push("conferencia", count: 322)
        try h.push("emissao", count: 3)
        let o = try h.start(["--handler", "conferencia=sleep 1", "--handler", "emissao=sleep 5"])
        #expect(waitUntil { h.workers(of: o.pid).count == 8 }, "log: \(h.log)")
        #expect(holds(for: .seconds(1.5)) { h.workers(of: o.pid).count == 8 }, "a few polls pass: the count stays exact")
        let workers = h.workers(of: o.pid)
        #expect(workers.filter { $0.queue == "conferencia" }.count == 7)
        #expect(workers.filter { $0.queue == "emissao" }.count == 1)
        #expect(h.log.contains("[ESCALAR] conferencia: 322 jobs → criando 7 worker(s) (total: 0 → 7)"))
        #expect(h.log.contains("[ESCALAR] emissao: 3 jobs → criando 1 worker(s) (total: 0 → 1)"))
        #expect(h.log.contains("Worker 'worker-conferencia-7' iniciado (pid"))
        #expect(h.log.contains("Total de emissao: 1"))
        let cmd = try String(contentsOfFile: "/proc/\(workers[0].pid)/cmdline", encoding: .utf8)
        #expect(cmd.contains("--queue\0") && cmd.contains("--slot\0"))
        o.signal(SIGTERM)
        #expect(o.wait(timeout: .seconds(30)) == .exited(0), "log: \(h.log)")
        #expect(h.workers(of: o.pid).isEmpty)
        #expect(try h.processingLists("conferencia").isEmpty && h.processingLists("emissao").isEmpty)
        let done = try h.results("conferencia").count + h.results("emissao").count
        #expect(done + (try h.pending("conferencia")) + (try h.pending("emissao")) == 325)
    }

    @Test("queues emptied → [REDUZIR], workers exit after their current job, count reaches 0")
    func scaleDownToZero() throws {
        let h = try OrchestratorHarness("down")
        try h.push("conferencia", count: 120)
        let o = try h.start(["--queue", "conferencia", "--handler", "conferencia=sleep 0.05; cat", "--scale-down-delay", "1",
                             "--jobs-per-worker", "40"])
        #expect(waitUntil { h.workers(of: o.pid).count == 3 }, "log: \(h.log)")
        // However the queue drains (3 → 1 → 0 or 3 → 0), the last [REDUZIR] takes the count to 0.
        #expect(waitUntil(timeout: .seconds(60)) { h.log.contains("[REDUZIR] conferencia: 0 jobs → ") && h.log.contains("→ 0)") },
                "log: \(h.log)")
        #expect(waitUntil { h.workers(of: o.pid).isEmpty })
        #expect(try h.results("conferencia").count == 120)
        #expect(try h.results("conferencia").allSatisfy { $0["status"] as? String == "ok" })
        #expect(waitUntil(timeout: .seconds(5)) { h.log.contains("Total de conferencia: 0") }, "the exit line follows the process's end: \(h.log)")
        o.signal(SIGTERM)
        #expect(o.wait() == .exited(0))
    }

    @Test("3 queues × 600 jobs with --max-total 20: never above 20, none above 10, each at least 6")
    func fairShare() throws {
        let h = try OrchestratorHarness("fair")
        for q in ["a", "b", "c"] { try h.push(q, count: 600) }
        let o = try h.start(["--queue", "a", "--queue", "b", "--queue", "c", "--handler", "a=sleep 30", "--handler", "b=sleep 30",
                             "--handler", "c=sleep 30", "--max-total", "20", "--drain-timeout", "1"])
        var maxTotal = 0, maxPerQueue = 0
        let reached = waitUntil {
            let w = h.workers(of: o.pid)
            maxTotal = max(maxTotal, w.count)
            for q in ["a", "b", "c"] { maxPerQueue = max(maxPerQueue, w.filter { $0.queue == q }.count) }
            return w.count == 20
        }
        #expect(reached, "log: \(h.log)")
        holds(for: .seconds(2)) {  // keep sampling for 2 s
            let w = h.workers(of: o.pid)
            maxTotal = max(maxTotal, w.count)
            for q in ["a", "b", "c"] { maxPerQueue = max(maxPerQueue, w.filter { $0.queue == q }.count) }
            return true
        }
        let w = h.workers(of: o.pid)
        #expect(maxTotal <= 20)
        #expect(maxPerQueue <= 10)
        for q in ["a", "b", "c"] { #expect(w.filter { $0.queue == q }.count >= 6, "\(q): \(w)") }
        #expect(h.log.contains("limited by --max-total 20"))
        o.signal(SIGTERM)
        #expect(o.wait(timeout: .seconds(30)) == .exited(0), "log: \(h.log)")
        // The drain deadline (1 s) passed with every job still sleeping: killed and requeued, none lost.
        let held = try ["a", "b", "c"].map { try h.pending($0) }.reduce(0, +)
        #expect(held == 1800)
        #expect(try ["a", "b", "c"].allSatisfy { try h.processingLists($0).isEmpty })
        // Workers and their handlers (which carry QUEUE_PREFIX in their environment) are all gone.
        #expect(waitUntil(timeout: .seconds(5)) { processesWithEnvironment(containing: "QUEUE_PREFIX=\(h.prefix)").isEmpty })
    }

    @Test("a busy worker killed with -9: its job is requeued and completed, a replacement starts")
    func busyWorkerKilled() throws {
        let h = try OrchestratorHarness("kill9")
        try h.push("conferencia", count: 1)
        let o = try h.start(["--queue", "conferencia", "--handler", "conferencia=sleep 2; cat"])
        #expect(waitUntil { (try? h.busyWorkers().count) == 1 }, "log: \(h.log)")
        let victim = try #require(try h.busyWorkers().first)
        kill(victim, SIGKILL)
        #expect(waitUntil(timeout: .seconds(30)) { (try? h.results("conferencia").count) == 1 }, "log: \(h.log)")
        let record = try #require(try h.results("conferencia").first)
        #expect(record["status"] as? String == "ok")
        #expect(record["attempts"] as? Int == 2)
        #expect(record["output"] as? String == "job-conferencia-1")
        #expect(h.log.contains("(pid \(victim), signal 9 (SIGKILL))"))
        #expect(h.log.components(separatedBy: "iniciado").count - 1 == 2, "log: \(h.log)")
        o.signal(SIGTERM)
        #expect(o.wait() == .exited(0))
    }

    @Test("TERM with busy workers: every running job finishes, exit 0, pending + done = pushed")
    func gracefulDrain() throws {
        let h = try OrchestratorHarness("drain")
        try h.push("conferencia", count: 150)
        let o = try h.start(["--queue", "conferencia", "--handler", "conferencia=sleep 1.5; echo ok"])
        #expect(waitUntil { (try? h.busyWorkers().count) == 3 }, "log: \(h.log)")
        o.signal(SIGTERM)
        #expect(o.wait(timeout: .seconds(30)) == .exited(0), "log: \(h.log)")
        let results = try h.results("conferencia")
        #expect(results.count >= 3)
        #expect(results.allSatisfy { $0["status"] as? String == "ok" && $0["output"] as? String == "ok\n" })
        #expect(results.count + (try h.pending("conferencia")) == 150)
        #expect(try h.processingLists("conferencia").isEmpty)
        #expect(h.log.contains("drain.begin") && h.log.contains("drain.done"))
    }

    @Test("orchestrator killed with -9: its workers drain and exit by themselves; the next one requeues what they held")
    func orchestratorKilled() throws {
        let h = try OrchestratorHarness("orphan")
        try h.push("conferencia", count: 100)
        let first = try h.start(["--queue", "conferencia", "--handler", "conferencia=sleep 1; cat"])
        #expect(waitUntil { (try? h.busyWorkers().count) == 2 }, "log: \(h.log)")
        let orphans = h.workers(of: first.pid).map(\.pid)
        #expect(orphans.count == 2)
        first.signal(SIGKILL)
        first.wait()
        // One orphan is also killed mid-job: its job is stranded until someone recovers it.
        kill(orphans[0], SIGKILL)
        #expect(waitUntil(timeout: .seconds(15)) { orphans.allSatisfy { kill($0, 0) != 0 || isZombie($0) } }, "orphans still alive")
        let stranded = try h.processingLists("conferencia")
        #expect(stranded.count == 1)
        let second = try h.start(["--queue", "conferencia", "--handler", "conferencia=cat"])
        #expect(waitUntil(timeout: .seconds(45)) {
            ((try? h.results("conferencia").count) ?? 0) == 100
        }, "results: \((try? h.results("conferencia").count) ?? -1) log: \(h.log)")
        #expect(try h.processingLists("conferencia").isEmpty)
        #expect(h.log.contains("job.recovered"))
        second.signal(SIGTERM)
        #expect(second.wait() == .exited(0))
    }

    @Test("status: a table and JSON from Redis while running; exit 3 and a clear line when none runs")
    func status() throws {
        let h = try OrchestratorHarness("status")
        try h.push("conferencia", count: 60)
        let env = ["REDIS_URL": TestEnv.redisURL, "QUEUE_PREFIX": h.prefix]
        let (idle, idleOut) = try runToEnd(TestEnv.orchestrator, ["status", "--queue", "conferencia"], env: env)
        #expect(idle == .exited(3))
        #expect(idleOut.contains("No orchestrator is running"))
        let o = try h.start(["--queue", "conferencia", "--handler", "conferencia=sleep 20"])
        #expect(waitUntil { (try? h.busyWorkers().count) == 2 })
        let (st, table) = try runToEnd(TestEnv.orchestrator, ["status"], env: env)
        #expect(st == .exited(0))
        #expect(table.contains("conferencia") && table.contains("busy"))
        let (js, json) = try runToEnd(TestEnv.orchestrator, ["status", "--json"], env: env)
        #expect(js == .exited(0))
        let object = jsonObject(Array(json.utf8))
        let workers = try #require(object["workers"] as? [[String: Any]])
        #expect(workers.count == 2)
        #expect(workers.allSatisfy { ($0["pid"] as? Int ?? 0) > 0 && $0["queue"] as? String == "conferencia" && $0["state"] as? String == "busy" })
        let queues = try #require(object["queues"] as? [[String: Any]])
        #expect(queues.first?["target"] as? Int == 2)
        #expect(queues.first?["in_flight"] as? Int == 2)
        o.signal(SIGTERM)
        #expect(waitUntil { h.log.contains("drain.begin") })
        o.signal(SIGTERM)  // the second TERM drains now: SIGKILL + requeue
        #expect(o.wait() == .exited(0))
        #expect(try h.pending("conferencia") == 60)
    }

    @Test("scaled to zero with a job waiting for its retry: the orchestrator brings it back when due and starts a worker")
    func retryAfterScaleToZero() throws {
        let h = try OrchestratorHarness("retry0")
        let marker = "\(h.dir)/failed-once"
        try h.push("conferencia", count: 1)
        let o = try h.start(["--queue", "conferencia", "--retry-delay", "3", "--scale-down-delay", "0",
                             "--handler", "conferencia=if [ $JOB_ATTEMPT = 1 ]; then touch \(marker); exit 1; fi; echo second-time-lucky"])
        #expect(waitUntil { h.log.contains("Total de conferencia: 0") && FileManager.default.fileExists(atPath: marker) }, "log: \(h.log)")
        #expect(waitUntil(timeout: .seconds(20)) { ((try? h.results("conferencia").count) ?? 0) == 1 }, "log: \(h.log)")
        let record = try #require(try h.results("conferencia").first)
        #expect(record["output"] as? String == "second-time-lucky\n")
        #expect(record["attempts"] as? Int == 2)
        #expect(h.log.components(separatedBy: "iniciado").count - 1 == 2)
        o.signal(SIGTERM)
        #expect(o.wait() == .exited(0))
    }

    @Test("a worker that keeps crashing is restarted with backoff (1 s, 2 s, 4 s …) and raises a crash-loop alert")
    func crashLoop() throws {
        let h = try OrchestratorHarness("crash")
        let fake = "\(h.dir)/crashing-worker"
        try "#!/bin/sh\necho 'simulated crash' >&2\nexit 1\n".write(toFile: fake, atomically: true, encoding: .utf8)
        chmod(fake, 0o755)
        try h.push("conferencia", count: 5)
        let o = try h.start(["--queue", "conferencia", "--handler", "conferencia=cat", "--worker-path", fake])
        #expect(waitUntil(timeout: .seconds(40)) { h.log.contains("worker.crashloop") }, "log: \(h.log)")
        let starts = h.log.components(separatedBy: "iniciado").count - 1
        #expect(starts >= 5 && starts <= 6, "restarts are spaced out, not a tight loop: \(starts)")
        #expect(h.log.contains("crashes_last_minute=5"))
        o.signal(SIGTERM)
        #expect(o.wait() == .exited(0))
        #expect(try h.pending("conferencia") == 5)
    }

    @Test("kill -TERM <worker> drains that worker alone; a replacement starts only if the target calls for it")
    func perWorkerTerm() throws {
        let h = try OrchestratorHarness("wterm")
        try h.push("conferencia", count: 40)
        let o = try h.start(["--queue", "conferencia", "--handler", "conferencia=sleep 1"])
        #expect(waitUntil { (try? h.busyWorkers().count) == 1 })
        let first = h.workers(of: o.pid)[0].pid
        kill(first, SIGTERM)
        #expect(waitUntil { h.log.contains("(pid \(first), exit 0)") }, "log: \(h.log)")
        #expect(waitUntil { h.workers(of: o.pid).count == 1 && h.workers(of: o.pid)[0].pid != first }, "log: \(h.log)")
        o.signal(SIGTERM)
        #expect(o.wait() == .exited(0))
    }
}

/// Live processes whose environment holds `text`.
func processesWithEnvironment(containing text: String) -> [Int32] {
    ProcessTree.snapshot().compactMap { e in
        guard !isZombie(e.pid), let data = FileManager.default.contents(atPath: "/proc/\(e.pid)/environ") else { return nil }
        return String(decoding: data, as: UTF8.self).contains(text) ? e.pid : nil
    }
}

func isZombie(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
    return stat.contains(") Z ")
}
