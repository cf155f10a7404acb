import Foundation
import OrchestratorCore
import Testing
import TestSupport

/// No secret of ours (Redis password, HTTP token, its file) reaches a worker's environment or
/// argv, a handler (exec or persistent) or `--alert-command`; the operator's own variables do.
@Suite("secrets: none reach workers, handlers or the alert command", .requiresRedis)
struct SecretsEndToEndTests {
    /// A handler that answers every job with its environment (persistent mode).
    static let envAnswerer = """
    import json, os, sys
    for line in sys.stdin:
        env = "\\n".join(k + "=" + v for k, v in os.environ.items())
        failed = json.loads(line).get("payload") == "fail"
        print(json.dumps({"status": "failed" if failed else "ok", "output": env, "error": "asked to fail"}), flush=True)
    """

    struct Run {
        let redis: PrivateRedis
        let connection: RedisConnection
        let prefix = TestEnv.uniquePrefix("sec")
        let dir = TestEnv.scratch("secrets")
        let secrets: [String]
        let tokenFile: String
        let token = "tok-\(UInt64.random(in: 1...UInt64.max))-abcdef"

        init(password: String) throws {
            redis = try PrivateRedis(password: password)
            connection = RedisConnection(endpoint: redis.endpoint)
            try connection.connect()
            tokenFile = "\(dir)/http-token"
            FileManager.default.createFile(atPath: tokenFile, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600])
            secrets = [password, token, tokenFile]
        }

        var log: String { (try? String(contentsOfFile: "\(dir)/logs/orchestrator.log", encoding: .utf8)) ?? "" }

        /// The strings of ours found in `text` (none expected).
        func leaked(_ text: String) -> [String] { secrets.filter { text.contains($0) } }

        func outputs(_ queue: String) throws -> [String] {
            try connection.lrange(QueueKeys(prefix: prefix, queue: queue).results).compactMap { jsonObject($0)["output"] as? String }
        }
    }

    /// Starts an orchestrator, runs one job that prints the handler's environment and one that is
    /// dead-lettered (the dead_letters alert runs `env`), and checks every place a secret could leak.
    func check(_ run: Run, mode: String, handler: String, env: [String: String]) throws {
        let alertFile = "\(run.dir)/alert-env.txt"
        try run.connection.lpush(QueueKeys(prefix: run.prefix, queue: "q").pending, strings: ["ok-1", "fail"])
        let o = try Launched(TestEnv.orchestrator, ["--queue", "q", "--handler", "q=\(handler)", "--handler-mode", mode, "--min-per-queue", "1",
                                                    "--max-attempts", "1", "--alert-dead-window", "30s", "--http-listen", "127.0.0.1:0",
                                                    "--alert-command", "env > \(alertFile)"],
                             env: ["QUEUE_PREFIX": run.prefix, "LOG_DIR": "\(run.dir)/logs", "RPA_MARKER": "visible-to-handlers"].merging(env) { $1 },
                             outputPath: "\(run.dir)/orchestrator.out")
        defer { o.signal(SIGTERM); _ = o.wait() }
        #expect(waitUntil { (try? run.outputs("q").count) ?? 0 >= 1 }, "log: \(run.log)\n\(o.output)")
        let outputs = try run.outputs("q")
        #expect(outputs.contains { $0.contains("RPA_MARKER=visible-to-handlers") }, "the operator's variables reach the handler: \(outputs)")
        #expect(outputs.allSatisfy { run.leaked($0).isEmpty && !$0.contains("REDIS_URL=") }, "handler env: \(outputs)")
        let workers = ProcessTree.snapshot().filter { e in
            e.ppid == o.pid && String(decoding: FileManager.default.contents(atPath: "/proc/\(e.pid)/cmdline") ?? Data(), as: UTF8.self).contains("--queue")
        }.map(\.pid)
        #expect(!workers.isEmpty)
        for pid in workers {
            let environ = String(decoding: FileManager.default.contents(atPath: "/proc/\(pid)/environ") ?? Data(), as: UTF8.self)
            let cmdline = String(decoding: FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data(), as: UTF8.self)
            #expect(environ.contains("QUEUE_PREFIX=") && run.leaked(environ).isEmpty, "/proc/\(pid)/environ: \(environ)")
            #expect(run.leaked(cmdline).isEmpty, "/proc/\(pid)/cmdline: \(cmdline)")
        }
        #expect(waitUntil { ((try? String(contentsOfFile: alertFile, encoding: .utf8)) ?? "").contains("RPA_MARKER=") }, "alert command ran: \(run.log)")
        let alertEnv = (try? String(contentsOfFile: alertFile, encoding: .utf8)) ?? ""
        #expect(run.leaked(alertEnv).isEmpty && !alertEnv.contains("REDIS_URL="), "alert command env: \(alertEnv)")
        #expect(run.leaked(run.log + o.output).isEmpty, "logs: \(run.log)")
    }

    @Test("exec mode, HTTP_TOKEN and REDIS_PASSWORD: handler `env`, --alert-command `env`, /proc/<worker>/environ and cmdline hold none")
    func execMode() throws {
        let password = "pw-\(UInt64.random(in: 1...UInt64.max))"
        let run = try Run(password: password)
        defer { run.redis.stop() }
        try check(run, mode: "exec", handler: "read p; env; test \"$p\" != fail",
                  env: ["REDIS_URL": "redis://127.0.0.1:\(run.redis.port)/0", "REDIS_PASSWORD": password, "HTTP_TOKEN": run.token])
    }

    @Test("persistent mode, HTTP_TOKEN_FILE and a REDIS_URL with the password: the handler's environment holds none")
    func persistentMode() throws {
        let password = "url-pw-\(UInt64.random(in: 1...UInt64.max))"
        let run = try Run(password: password)
        defer { run.redis.stop() }
        let script = "\(run.dir)/answer-env.py"
        try Self.envAnswerer.write(toFile: script, atomically: true, encoding: .utf8)
        try check(run, mode: "persistent", handler: "python3 \(script)",
                  env: ["REDIS_URL": "redis://:\(password)@127.0.0.1:\(run.redis.port)/0", "HTTP_TOKEN_FILE": run.tokenFile])
    }

    @Test("a standalone worker started with REDIS_PASSWORD and HTTP_TOKEN in its environment: /proc/<pid>/environ and its handlers hold neither")
    func standaloneWorker() throws {
        let password = "solo-pw-\(UInt64.random(in: 1...UInt64.max))"
        let run = try Run(password: password)
        defer { run.redis.stop() }
        try run.connection.lpush(QueueKeys(prefix: run.prefix, queue: "q").pending, strings: ["ok-1"])
        let w = try Launched(TestEnv.worker, ["--queue", "q", "--slot", "1", "--handler", "env", "--health-file", "\(run.dir)/w.alive"],
                             env: ["REDIS_URL": "redis://127.0.0.1:\(run.redis.port)/0", "REDIS_PASSWORD": password, "HTTP_TOKEN": run.token,
                                   "QUEUE_PREFIX": run.prefix, "RPA_MARKER": "visible-to-handlers"], outputPath: "\(run.dir)/worker.out")
        defer { w.signal(SIGTERM); _ = w.wait() }
        #expect(waitUntil { (try? run.outputs("q").count) ?? 0 >= 1 }, "\(w.output)")
        let outputs = try run.outputs("q")
        #expect(outputs.first?.contains("RPA_MARKER=visible-to-handlers") == true && outputs.allSatisfy { run.leaked($0).isEmpty }, "\(outputs)")
        let environ = String(decoding: FileManager.default.contents(atPath: "/proc/\(w.pid)/environ") ?? Data(), as: UTF8.self)
        #expect(environ.contains("QUEUE_PREFIX=") && run.leaked(environ).isEmpty, "/proc/\(w.pid)/environ: \(environ)")
        // The readiness probe, started the same way (Kubernetes envFrom), still authenticates.
        let (ready, readyOut) = try runToEnd(TestEnv.worker, ["--check", "--check-redis", "--queue", "q", "--slot", "1", "--health-file", "\(run.dir)/w.alive"],
                                             env: ["REDIS_URL": "redis://127.0.0.1:\(run.redis.port)/0", "REDIS_PASSWORD": password])
        #expect(ready == .exited(0) && readyOut.contains("Redis answers"), "\(readyOut)")
    }
}
