import Foundation
import OrchestratorCore
import Testing
import TestSupport

/// What browsers do to a worker: handlers that exit after answering, processes that leave their
/// process group, memory shared between processes.
@Suite("handler processes and their leftovers against a real redis-server", .requiresRedis)
struct HandlerLifecycleTests {
    @Test("persistent: a handler that answers 'failed' and then exits costs the next job nothing")
    func failedThenExits() throws {
        let h = try WorkerHarness("fexit")
        // Answers every job; on "bye" it answers failed, then takes 0.3 s to exit (a browser closing).
        let handler = #"while IFS= read -r line; do case "$line" in *bye*) echo '{"status":"failed","error":"session lost"}'; sleep 0.3; exit 3;; *) echo "{\"status\":\"ok\",\"output\":\"$$\"}";; esac; done"#
        try h.redis.lpush(h.keys.pending, strings: ["bye", "next 1", "next 2"])
        let worker = try h.start(handler: handler, args: ["--handler-mode", "persistent", "--max-attempts", "2"])
        #expect(waitUntil { (try? h.results().filter { $0["status"] as? String == "ok" }.count) == 2 }, "log: \(worker.output)")
        worker.signal(SIGTERM)
        #expect(worker.wait() == .exited(0))
        let ok = try h.results().filter { $0["status"] as? String == "ok" }
        #expect(ok.allSatisfy { $0["attempts"] as? Int == 1 }, "the jobs after the exit were not charged an attempt: \(ok)")
        #expect(!worker.output.contains("before answering"), "log: \(worker.output)")
    }

    @Test("persistent: an answer with \"restart\": true gets a fresh handler before the next job")
    func restartRequested() throws {
        let h = try WorkerHarness("rreq")
        let handler = #"while IFS= read -r line; do case "$line" in *recycle*) echo "{\"status\":\"ok\",\"output\":\"$$\",\"restart\":true}";; *) echo "{\"status\":\"ok\",\"output\":\"$$\"}";; esac; done"#
        try h.redis.lpush(h.keys.pending, strings: ["a", "recycle me", "b"])
        let worker = try h.start(handler: handler, args: ["--handler-mode", "persistent"])
        #expect(waitUntil { (try? h.results().count) == 3 }, "log: \(worker.output)")
        worker.signal(SIGTERM)
        #expect(worker.wait() == .exited(0))
        let pids = try h.results().compactMap { $0["output"] as? String }
        #expect(pids.count == 3 && pids[0] == pids[1] && pids[1] != pids[2], "\(pids)")
    }

    @Test("persistent: a handler that dies twice without reading the job fails that attempt, saying so")
    func diesWithoutReading() throws {
        let h = try WorkerHarness("noread")
        try h.redis.lpush(h.keys.pending, strings: ["never read"])
        let worker = try h.start(handler: "sh -c 'sleep 0.2; exit 4'", args: ["--handler-mode", "persistent", "--max-attempts", "1"])
        #expect(waitUntil { (try? h.dead().count) == 1 }, "log: \(worker.output)")
        worker.signal(SIGTERM)
        #expect(worker.wait() == .exited(0))
        #expect((try h.dead().first?["error"] as? String ?? "").contains("twice without reading the job"))
    }

    @Test("persistent: a handler's JSON output is stored as JSON in the result record")
    func jsonOutput() throws {
        let h = try WorkerHarness("jout")
        let handler = #"while IFS= read -r line; do echo '{"status":"ok","output":{"confirmation":"C-42","n":1}}'; done"#
        try h.redis.lpush(h.keys.pending, strings: ["x"])
        let worker = try h.start(handler: handler, args: ["--handler-mode", "persistent"])
        #expect(waitUntil { (try? h.results().count) == 1 }, "log: \(worker.output)")
        worker.signal(SIGTERM)
        worker.wait()
        let output = try #require(try h.results().first?["output"] as? [String: Any])
        #expect(output["confirmation"] as? String == "C-42")
    }

    @Test("--job-timeout: processes that left the group (their own session) are killed and reaped at once, no zombie waits for the next job")
    func noZombiesAfterTimeout() throws {
        let h = try WorkerHarness("zomb")
        let tag = "3\(UInt16.random(in: 1000...9999))"
        // A "browser" in its own session with two big "renderers" (a large address space takes a
        // while to tear down after SIGKILL, as Chromium's do), then the handler hangs.
        let renderer = "\(h.dir)/renderer.py"
        try "import sys, time\nblock = bytearray(400 << 20)\nfor i in range(0, len(block), 4096): block[i] = 1\nprint('ready', flush=True)\ntime.sleep(3600)\n"
            .write(toFile: renderer, atomically: true, encoding: .utf8)
        let handler = "setsid sh -c 'python3 \(renderer) \(tag)1 & python3 \(renderer) \(tag)2 & wait' & sleep \(tag)3"
        try h.redis.lpush(h.keys.pending, strings: ["hang"])
        let worker = try h.start(handler: handler, args: ["--job-timeout", "2", "--max-attempts", "1"])
        #expect(waitUntil { (try? h.dead().count) == 1 }, "log: \(worker.output)")
        #expect(waitUntil(timeout: .seconds(1)) { ProcessTree.children(of: worker.pid).isEmpty },
                "children left under the idle worker: \(ProcessTree.descendants(of: worker.pid))")
        #expect(processesMatching(" \(tag)").filter { $0 != worker.pid }.isEmpty)
        worker.signal(SIGTERM)
        #expect(worker.wait() == .exited(0))
    }

    @Test("--job-timeout, 30 times in a row: a session that left the group is never missed while its parent is still dying")
    func noSessionMissedUnderRace() throws {
        let h = try WorkerHarness("zrace")
        let tag = "4\(UInt16.random(in: 1000...9999))"
        // The killed handler's orphans move to the worker while it walks the tree: one walk can
        // miss them (CI saw a whole setsid session left behind once in ~100 timeouts).
        let handler = "setsid sh -c 'sleep \(tag)1 & sleep \(tag)2 & wait' & sleep \(tag)3"
        try h.redis.lpush(h.keys.pending, strings: (1...30).map { "hang \($0)" })
        let worker = try h.start(handler: handler, args: ["--job-timeout", "250ms", "--max-attempts", "1"])
        #expect(waitUntil(timeout: .seconds(60)) { (try? h.dead().count) == 30 }, "log: \(worker.output)")
        #expect(waitUntil(timeout: .seconds(1)) { ProcessTree.children(of: worker.pid).isEmpty },
                "children left under the idle worker: \(ProcessTree.descendants(of: worker.pid))")
        let left = processesMatching(" \(tag)").filter { $0 != worker.pid }
        for pid in left { kill(pid, SIGKILL) }
        #expect(left.isEmpty, "\(left.count) handler processes outlived their job's timeout")
        worker.signal(SIGTERM)
        #expect(worker.wait() == .exited(0))
    }

    @Test("--max-worker-rss-mb counts shared pages once (PSS): 5 processes sharing 60 MB are not 300 MB")
    func proportionalMemory() throws {
        let h = try WorkerHarness("pss")
        let script = "\(h.dir)/share.py"
        // A parent touches 60 MB, forks 4 children that keep it shared (copy-on-write), and answers jobs.
        try """
        import os, sys, json, time
        block = bytearray(os.urandom(1 << 20)) * 60
        kids = []
        for _ in range(4):
            pid = os.fork()
            if pid == 0:
                time.sleep(3600)
                os._exit(0)
            kids.append(pid)
        for line in sys.stdin:
            print(json.dumps({"status": "ok", "output": "shared"}), flush=True)
        """.write(toFile: script, atomically: true, encoding: .utf8)
        try h.redis.lpush(h.keys.pending, strings: ["1", "2", "3"])
        let worker = try h.start(handler: "python3 \(script)", args: ["--handler-mode", "persistent", "--max-worker-rss-mb", "200"])
        #expect(waitUntil { (try? h.results().count) == 3 }, "log: \(worker.output)")
        #expect(worker.status == nil, "not recycled: the tree's PSS is ~80 MB, its summed RSS ~320 MB")
        var fields: [String: String] = [:]
        // An idle worker rewrites its heartbeat's fields on its next wake (at most Heartbeat.idleBlock + refresh later).
        #expect(waitUntil(timeout: .seconds(12)) {
            fields = (try? h.redis.send(["HGETALL", RedisArg(h.keys.heartbeat(QueueKeys.workerID(queue: "q", slot: 1, host: WallClock.hostName(), pid: worker.pid)))]).fields) ?? [:]
            return Int(fields["rss_bytes"] ?? "") ?? 0 > 250 << 20
        }, "heartbeat: \(fields)")
        let rss = Int(fields["rss_bytes"] ?? "") ?? 0, pss = Int(fields["pss_bytes"] ?? "") ?? 0
        #expect(pss > 60 << 20 && pss < rss / 2, "pss \(pss >> 20) MB, rss \(rss >> 20) MB")
        #expect(fields["processes"].flatMap(Int.init) ?? 0 >= 6)
        worker.signal(SIGTERM)
        #expect(worker.wait() == .exited(0))
    }

    @Test("handler stderr reaches the worker log line by line while the job runs, with the job id (exec and persistent)")
    func stderrAsItArrives() throws {
        let h = try WorkerHarness("stderr")
        try h.redis.lpush(h.keys.pending, strings: ["slow"])
        let worker = try h.start(handler: "echo 'progress 1 of 2' >&2; sleep 2; echo 'progress 2 of 2' >&2")
        let id = SHA1.hex(Array("slow".utf8))
        #expect(waitUntil(timeout: .seconds(5)) { worker.output.contains("handler.stderr") && worker.output.contains("progress 1 of 2") },
                "\(worker.output)")
        #expect(try h.results().isEmpty, "seen while the job still runs")
        #expect(worker.output.contains("job.id=\(id)"))
        #expect(waitUntil { (try? h.results().count) == 1 })
        worker.signal(SIGTERM)
        #expect(worker.wait() == .exited(0))

        let p = try WorkerHarness("pstderr")
        // A persistent handler that logs while idle, then answers.
        let handler = #"echo 'logged in' >&2; while IFS= read -r line; do echo 'working on it' >&2; echo '{"status":"ok"}'; done"#
        let pw = try p.start(handler: handler, args: ["--handler-mode", "persistent"])
        try p.redis.lpush(p.keys.pending, strings: ["x"])
        #expect(waitUntil { (try? p.results().count) == 1 }, "\(pw.output)")
        #expect(waitUntil { pw.output.contains("line=\"logged in\"") && pw.output.contains("line=\"working on it\"") }, "\(pw.output)")
        pw.signal(SIGTERM)
        #expect(pw.wait() == .exited(0))
    }

    @Test("exec mode with --output json: stdout that is one JSON value is stored as JSON; anything else stays a string; default text")
    func execJSONOutput() throws {
        let h = try WorkerHarness("ejson")
        try h.redis.lpush(h.keys.pending, strings: ["{\"confirmation\":\"C-9\"}", "not json"])
        let worker = try h.start(handler: "cat", args: ["--output", "json"])
        #expect(waitUntil { (try? h.results().count) == 2 }, "\(worker.output)")
        worker.signal(SIGTERM)
        worker.wait()
        let results = try h.results()
        #expect((results[0]["output"] as? [String: Any])?["confirmation"] as? String == "C-9")
        #expect(results[1]["output"] as? String == "not json")
        let d = try WorkerHarness("etext")
        try d.redis.lpush(d.keys.pending, strings: ["{\"n\":1}"])
        let plain = try d.start(handler: "cat")
        #expect(waitUntil { (try? d.results().count) == 1 })
        plain.signal(SIGTERM)
        plain.wait()
        #expect(try d.results().first?["output"] as? String == "{\"n\":1}", "the default keeps stdout a string")
    }
}
