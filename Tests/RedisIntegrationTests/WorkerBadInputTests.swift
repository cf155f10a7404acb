import Foundation
import OrchestratorCore
import Testing
import TestSupport

/// The bad-input battery, worker side: payloads, handlers, keys and flags. Each case has a clear
/// message or outcome, no trap, no lost job, no process left behind.
@Suite("worker bad-input battery", .requiresRedis)
struct WorkerBadInputTests {
    /// Runs `payloads` through one worker with `handler` and returns the result records in order.
    func run(_ h: WorkerHarness, handler: String, payloads: [[UInt8]], args: [String] = ["--max-attempts", "1"]) throws -> [[String: Any]] {
        try h.redis.lpush(h.keys.pending, payloads)
        let worker = try h.start(handler: handler, args: args)
        #expect(waitUntil { (try? h.results().count) == payloads.count }, "worker log: \(worker.output)")
        worker.signal(SIGTERM)
        #expect(worker.wait() == .exited(0), "no trap, clean drain; log: \(worker.output)")
        #expect(try h.pending() == 0 && h.processing().isEmpty)
        return try h.results()
    }

    @Test("empty payload and a 10 MB payload go through byte for byte")
    func payloadSizes() throws {
        let h = try WorkerHarness("sizes")
        let big = [UInt8](repeating: UInt8(ascii: "x"), count: 10 * 1024 * 1024)
        let results = try run(h, handler: "wc -c", payloads: [[], big])
        #expect(results[0]["status"] as? String == "ok" && results[0]["payload"] as? String == "")
        #expect((results[0]["output"] as? String ?? "").trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        #expect(WorkerHarness.bytes(results[1], "payload") == big)
        #expect((results[1]["output"] as? String ?? "").trimmingCharacters(in: .whitespacesAndNewlines) == "\(big.count)")
    }

    @Test("a handler whose executable is missing or not executable is refused at start: exit 64 naming the flag", arguments: [
        ("/nonexistent/robot --go", "'/nonexistent/robot' does not exist"),
        ("no-such-robot-command-42", "'no-such-robot-command-42' is not found in PATH"),
        ("NOEXEC", "is not executable"),
    ])
    func refusedAtStart(command: String, message: String) throws {
        let h = try WorkerHarness("missing")
        var command = command
        if command == "NOEXEC" {  // a file without the execute bit
            command = "\(h.dir)/robot.sh"
            FileManager.default.createFile(atPath: command, contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o644])
        }
        let worker = try h.start(handler: command)
        #expect(worker.wait() == .exited(64))
        #expect(worker.output.contains("Error: --handler: ") && worker.output.contains(message), "\(worker.output)")
    }

    @Test("a handler that disappears or loses its execute bit after start fails the attempt with a clear error")
    func brokenAfterStart() throws {
        let h = try WorkerHarness("gone")
        let path = "\(h.dir)/robot.sh"
        try "#!/bin/sh\necho hi\n".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        let worker = try h.start(handler: path, args: ["--max-attempts", "1"])
        #expect(waitUntil { worker.output.contains("worker.ready") }, "\(worker.output)")
        chmod(path, 0o644)
        try h.redis.lpush(h.keys.pending, strings: ["first"])
        #expect(waitUntil { (try? h.dead().count) == 1 }, "\(worker.output)")
        try FileManager.default.removeItem(atPath: path)
        try h.redis.lpush(h.keys.pending, strings: ["second"])
        #expect(waitUntil { (try? h.dead().count) == 2 }, "\(worker.output)")
        worker.signal(SIGTERM)
        #expect(worker.wait() == .exited(0))
        let errors = try h.dead().compactMap { $0["error"] as? String }
        #expect(errors.contains { $0.contains("Permission denied") } && errors.contains { $0.contains("No such file or directory") }, "\(errors)")
    }

    @Test("exit 137 and death by SIGKILL are failed attempts that say so")
    func exitCodes() throws {
        let h = try WorkerHarness("codes")
        let results = try run(h, handler: #"case "$(cat)" in a) exit 137;; *) kill -9 $$;; esac"#, payloads: [Array("a".utf8), Array("b".utf8)])
        #expect((results[0]["error"] as? String ?? "").contains("exit 137"))
        #expect((results[1]["error"] as? String ?? "").contains("signal 9"))
        #expect(try h.dead().count == 2)
    }

    @Test("a handler that closes stdin and stdout early without reading a 2 MB payload still completes")
    func closesEarly() throws {
        let h = try WorkerHarness("early")
        let results = try run(h, handler: "exec <&- >&-; sleep 0.1", payloads: [[UInt8](repeating: 65, count: 2 << 20)])
        #expect(results[0]["status"] as? String == "ok")
        #expect(results[0]["output"] as? String == "")
    }

    @Test("a handler printing 50 MB: output capped at 1 MiB, marked truncated, job ok")
    func hugeOutput() throws {
        let h = try WorkerHarness("huge")
        let results = try run(h, handler: "head -c 50000000 /dev/zero | tr '\\000' y", payloads: [Array("x".utf8)])
        #expect(results[0]["status"] as? String == "ok")
        #expect((results[0]["output"] as? String)?.utf8.count == 1 << 20)
        #expect(results[0]["output_truncated"] as? Bool == true)
    }

    @Test("a queue key holding a string (WRONGTYPE): the worker says so, keeps running, drains cleanly")
    func wrongType() throws {
        let h = try WorkerHarness("wrongtype")
        _ = try h.redis.send(["SET", RedisArg(h.keys.pending), "not a list"])
        let worker = try h.start(handler: "cat")
        #expect(waitUntil { worker.output.contains("WRONGTYPE") }, "log: \(worker.output)")
        usleep(2_500_000)
        #expect(worker.status == nil)
        #expect(worker.output.components(separatedBy: "WRONGTYPE").count - 1 == 1, "logged once, not every second: \(worker.output)")
        worker.signal(SIGTERM)
        #expect(worker.wait() == .exited(0))
        #expect(try h.redis.send(["GET", RedisArg(h.keys.pending)]) == .string(Array("not a list".utf8)))
    }

    @Test("bad worker flags exit 64 naming the flag", arguments: [
        (["--handler", "cat"], "--queue"),
        (["--queue", "q", "--handler", "cat", "--max-attempts", "zero"], "--max-attempts"),
        (["--queue", "a b", "--handler", "cat"], "--queue"),
        (["--queue", "q"], "--handler"),
        (["--queue", "q", "--handler", "cat", "--job-timeout", "-1"], "--job-timeout"),
        (["--queue", "q", "--handler", "cat", "--redis-url", "redis://h:70000/0"], "--redis-url"),
    ])
    func badFlags(args: [String], flag: String) throws {
        let (status, output) = try runToEnd(TestEnv.worker, args)
        #expect(status == .exited(64))
        #expect(output.contains(flag), "\(output)")
        #expect(!output.contains("Fatal error"))
    }

    @Test("Redis refusals at start exit 69 with the reason", arguments: [
        ("redis://127.0.0.1:PORT/99", "DB index"),
        ("redis://nosuchuser-7@127.0.0.1:PORT/9", "authentication failed"),
    ])
    func redisRefusals(url: String, reason: String) throws {
        let (status, output) = try runToEnd(TestEnv.worker, ["--queue", "q", "--handler", "cat"],
                                            env: ["REDIS_URL": url.replacingOccurrences(of: "PORT", with: "\(TestEnv.redisPort!)"),
                                                  "REDIS_PASSWORD": url.contains("@") ? "Sekr1t-pw" : ""])
        #expect(status == .exited(69))
        #expect(output.contains(reason), "\(output)")
        #expect(!output.contains("Sekr1t-pw"))
    }
}
