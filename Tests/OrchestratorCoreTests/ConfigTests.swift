import Foundation
import OrchestratorCore
import Testing

@Suite("Redis URLs, durations and flag validation (pure)")
struct ConfigTests {
    @Test("redis URLs parse, and the password never shows in the description")
    func urls() throws {
        let e = try RedisEndpoint.parse("redis://robot:s3cr%40t@redis.internal:6380/2")
        #expect(e == RedisEndpoint(host: "redis.internal", port: 6380, db: 2, user: "robot", password: "s3cr@t"))
        #expect(e.description == "redis://robot:***@redis.internal:6380/2")
        #expect(!e.urlWithoutPassword.contains("s3cr"))
        #expect(try RedisEndpoint.parse("redis://:pw@h:1/0").password == "pw")
        #expect(try RedisEndpoint.parse("redis://h").port == 6379)
        #expect(try RedisEndpoint.parse("redis://h:7000", fallbackPassword: "envpw").password == "envpw")
        #expect(try RedisEndpoint.parse("redis://:urlpw@h:7000", fallbackPassword: "envpw").password == "urlpw")
    }

    @Test("bad redis URLs are refused with a reason", arguments: [
        ("http://h:6379/0", "scheme"), ("redis://h:99999/0", "port"), ("redis://h:abc/0", "port"),
        ("redis://:6379/0", "host"), ("redis://h:6379/x", "database"), ("rediss://h:6379/0", "TLS"), ("", "scheme"),
    ])
    func badURLs(url: String, word: String) {
        do {
            _ = try RedisEndpoint.parse(url)
            Issue.record("\(url) should not parse")
        } catch {
            #expect("\(error)".contains(word))
        }
    }

    @Test("durations: plain seconds and units", arguments: [
        ("2", 2000), ("0.5", 500), ("500ms", 500), ("30s", 30_000), ("5m", 300_000), ("1h", 3_600_000), ("0", 0),
    ])
    func durations(text: String, ms: Int64) {
        #expect(parseDuration(text)?.milliseconds == ms)
    }

    @Test("bad durations", arguments: ["", "-1", "abc", "5x", "1e3", "ms", "nan"])
    func badDurations(text: String) {
        #expect(parseDuration(text) == nil)
    }

    func resolve(_ edit: (inout OrchestratorSettings.Flags) -> Void, env: [String: String] = [:]) throws(ConfigError) -> OrchestratorSettings {
        var flags = OrchestratorSettings.Flags()
        flags.handlers = ["conferencia=cat", "emissao=cat"]
        edit(&flags)
        return try OrchestratorSettings.resolve(flags, OptionResolver(environment: env), defaultWorkerPath: "/bin/true")
    }

    @Test("defaults match PRODUCT.md")
    func defaults() throws {
        let s = try resolve { _ in }
        #expect(s.queues == ["conferencia", "emissao"])
        #expect(s.policy == ScalingPolicy(jobsPerWorker: 50, minPerQueue: 0, maxPerQueue: 10, maxTotal: 20, scaleDownDelay: .seconds(60)))
        #expect(s.pollInterval == .seconds(1) && s.summaryInterval == .seconds(60) && s.drainTimeout == .seconds(300))
        #expect(s.job.jobTimeout == .seconds(600) && s.job.maxAttempts == 3 && s.job.retryDelay == .zero)
        #expect(s.job.prefix == "fila:" && s.logDir == "logs")
    }

    @Test("the flag wins over the environment, which wins over the default")
    func precedence() throws {
        let env = ["MAX_TOTAL": "12", "JOBS_PER_WORKER": "5", "QUEUES": "a,b", "HANDLER_A": "cat", "HANDLER_B": "cat"]
        let s = try resolve({ $0.values[.maxTotal] = "15"; $0.handlers = [] }, env: env)
        #expect(s.policy.maxTotal == 15)
        #expect(s.policy.jobsPerWorker == 5)
        #expect(s.queues == ["a", "b"])
        #expect(s.handlers == ["a": "cat", "b": "cat"])
    }

    @Test("--max-total below the default --max-per-queue clamps it when --max-per-queue was not given")
    func maxTotalAloneClamps() throws {
        let s = try resolve { $0.values[.maxTotal] = "4" }
        #expect(s.policy.maxPerQueue == 4 && s.policy.maxTotal == 4)
        #expect(s.summary.contains("max_per_queue=4 (default 10 clamped to --max-total)"))
        let fromEnv = try resolve({ _ in }, env: ["MAX_TOTAL": "2"])
        #expect(fromEnv.policy.maxPerQueue == 2)
        #expect(throws: ConfigError.self, "both given explicitly: still refused") { try resolve { $0.values[.maxTotal] = "4"; $0.values[.maxPerQueue] = "10" } }
        #expect(throws: ConfigError.self) { try resolve({ $0.values[.maxTotal] = "4" }, env: ["MAX_PER_QUEUE": "6"]) }
        #expect(try resolve { $0.values[.maxTotal] = "30" }.policy.maxPerQueue == 10, "no clamp when the default fits")
    }

    @Test("--history-retention off writes no samples; --alerts-disable all turns every rule off; a typo is still refused")
    func historyAndAlertsOff() throws {
        #expect(try resolve { _ in }.historyRetention == .seconds(7 * 86_400))
        #expect(try resolve { $0.values[.historyRetention] = "off" }.historyRetention == nil)
        #expect(try resolve({ _ in }, env: ["HISTORY_RETENTION": "OFF"]).historyRetention == nil)
        #expect(try resolve { $0.values[.alertsDisable] = "all" }.alerts.disabled == Set(AlertRule.allCases))
        #expect(try resolve { $0.values[.alertsDisable] = "stuck_job" }.alerts.disabled == [.stuckJob])
        #expect(throws: ConfigError.self) { try resolve { $0.values[.alertsDisable] = "al" } }
        #expect(throws: ConfigError.self) { try resolve { $0.values[.historyRetention] = "0" } }
    }

    @Test("alert thresholds: --alert-crash-loop N/window, --alert-stuck-at and --alert-memory-at as percentages; bad ones name the flag")
    func alertThresholds() throws {
        let d = try resolve { _ in }.alerts
        #expect(d.crashLoopCount == 5 && d.crashLoopWindow == .seconds(60) && d.stuckFraction == 0.8 && d.memoryFraction == 0.9)
        let s = try resolve({ $0.values[.alertCrashLoop] = "3/10s"; $0.values[.alertStuckAt] = "50" }, env: ["ALERT_MEMORY_AT": "75%"]).alerts
        #expect(s.crashLoopCount == 3 && s.crashLoopWindow == .seconds(10) && s.stuckFraction == 0.5 && s.memoryFraction == 0.75)
        for (spec, bad) in [(OptionSpec.alertCrashLoop, "5"), (.alertCrashLoop, "0/1m"), (.alertCrashLoop, "5/2h"), (.alertCrashLoop, "x/1m"),
                            (.alertStuckAt, "0"), (.alertStuckAt, "120%"), (.alertMemoryAt, "lots")] {
            #expect(throws: ConfigError.self, "\(spec.flag) \(bad)") { try resolve { $0.values[spec] = bad } }
        }
        do { _ = try resolve({ _ in }, env: ["ALERT_STUCK_AT": "200"]); Issue.record("accepted") } catch {
            #expect(error.description.contains("--alert-stuck-at (from ALERT_STUCK_AT)"), "\(error)")
        }
    }

    @Test("HANDLER_MODE is read in any case")
    func handlerModeAnyCase() throws {
        #expect(try resolve({ _ in }, env: ["HANDLER_MODE": "PERSISTENT"]).job.handlerMode == .persistent)
        #expect(try resolve({ $0.values[.handlerMode] = " Exec " }).job.handlerMode == .exec)
    }

    /// One bad flag/env case: flag values to set (field → value) and the flag the error must name.
    struct BadInput: Sendable, CustomTestStringConvertible {
        var expectedFlag: String
        var set: [String: String] = [:]
        var handlers: [String]? = nil
        var queues: [String]? = nil
        var env: [String: String] = [:]
        var testDescription: String { "\(expectedFlag) \(set) \(handlers ?? []) \(queues ?? []) \(env)" }

        func apply(_ f: inout OrchestratorSettings.Flags) {
            if let handlers { f.handlers = handlers }
            if let queues { f.queues = queues }
            for (field, value) in set {
                guard let spec = OptionSpec.all.first(where: { $0.name == field }) else { fatalError("unknown option \(field)") }
                f.values[spec] = value
            }
        }
    }

    /// The bad-input battery for flags and env: each names the flag (exit 64 in the binaries).
    @Test("bad flags and env are refused, naming the flag", arguments: [
        BadInput(expectedFlag: "--max-total", set: ["maxTotal": "ten"]),
        BadInput(expectedFlag: "--max-total", set: ["maxTotal": "0"]),
        BadInput(expectedFlag: "--max-total", set: ["maxTotal": "-3"]),
        BadInput(expectedFlag: "--max-per-queue", set: ["maxPerQueue": "0"]),
        BadInput(expectedFlag: "--max-per-queue", set: ["maxPerQueue": "30"]),
        BadInput(expectedFlag: "--min-per-queue", set: ["minPerQueue": "11"]),
        BadInput(expectedFlag: "--min-per-queue", set: ["minPerQueue": "-1"]),
        BadInput(expectedFlag: "--min-per-queue", set: ["minPerQueue": "8", "maxTotal": "15"]),
        BadInput(expectedFlag: "--jobs-per-worker", set: ["jobsPerWorker": "0"]),
        BadInput(expectedFlag: "--jobs-per-worker", set: ["jobsPerWorker": "1.5"]),
        BadInput(expectedFlag: "--poll-interval", set: ["pollInterval": "soon"]),
        BadInput(expectedFlag: "--poll-interval", set: ["pollInterval": "0"]),
        BadInput(expectedFlag: "--drain-timeout", set: ["drainTimeout": "-5"]),
        BadInput(expectedFlag: "--scale-down-delay", set: ["scaleDownDelay": "5 minutes"]),
        BadInput(expectedFlag: "--handler", handlers: ["conferencia=cat", "typo=cat", "emissao=cat"]),
        BadInput(expectedFlag: "--handler", handlers: ["conferencia"]),
        BadInput(expectedFlag: "--handler", handlers: ["conferencia=cat"]),
        BadInput(expectedFlag: "--handler", handlers: ["conferencia=no-such-robot-9 --go", "emissao=cat"]),
        BadInput(expectedFlag: "--handler (from HANDLER_EMISSAO)", handlers: ["conferencia=cat"], env: ["HANDLER_EMISSAO": "/nonexistent/robot"]),
        BadInput(expectedFlag: "--handler", handlers: ["conferencia=  ", "emissao=cat"]),
        BadInput(expectedFlag: "--queue", handlers: [], queues: ["a b"]),
        BadInput(expectedFlag: "--queue", handlers: ["x=cat"], queues: ["x", "x"]),
        BadInput(expectedFlag: "--queue (from QUEUES)", handlers: [], env: ["QUEUES": ","]),
        BadInput(expectedFlag: "--redis-url", set: ["redisURL": "http://localhost"]),
        BadInput(expectedFlag: "--redis-url", set: ["redisURL": "redis://localhost/99999"]),
        BadInput(expectedFlag: "--redis-url (from REDIS_URL)", env: ["REDIS_URL": "redis://h:0/0"]),
        BadInput(expectedFlag: "--max-attempts", set: ["maxAttempts": "0"]),
        BadInput(expectedFlag: "--job-timeout", set: ["jobTimeout": "forever"]),
        BadInput(expectedFlag: "--handler-mode", set: ["handlerMode": "fork"]),
        BadInput(expectedFlag: "--prefix", set: ["prefix": "fila *"]),
        BadInput(expectedFlag: "--max-worker-rss-mb", set: ["maxWorkerRSSMB": "lots"]),
        BadInput(expectedFlag: "--max-total (from MAX_TOTAL)", env: ["MAX_TOTAL": "x"]),
        BadInput(expectedFlag: "--worker-path", set: ["workerPath": "/nonexistent/worker"]),
    ])
    func badInput(_ case_: BadInput) {
        do {
            _ = try resolve({ case_.apply(&$0) }, env: case_.env)
            Issue.record("expected \(case_.expectedFlag) to be refused")
        } catch {
            #expect(error.flag == case_.expectedFlag, "\(error)")
            #expect(!error.message.isEmpty)
        }
    }

    @Test("workers get settings through the environment, never argv; the Redis password only on stdin; none of our secrets")
    func workerEnvironment() throws {
        let s = try resolve({ $0.values[.redisURL] = "redis://robot:hunter2@127.0.0.1:6379/3" })
        let base = ["RPA_PASSWORD": "p", "HTTP_TOKEN": "t0123456789abcdef", "HTTP_TOKEN_FILE": "/run/token", "REDIS_PASSWORD": "hunter2",
                    "REDIS_URL": "redis://robot:hunter2@127.0.0.1:6379/3"]
        let env = s.workerEnvironment(base: base, queue: "emissao", orchestratorPID: 42)
        #expect(env["REDIS_URL"] == "redis://robot@127.0.0.1:6379/3")
        #expect(env["REDIS_PASSWORD"] == nil && env["HTTP_TOKEN"] == nil && env["HTTP_TOKEN_FILE"] == nil)
        #expect(!env.values.contains { $0.contains("hunter2") || $0.contains("t0123456789abcdef") || $0.contains("/run/token") }, "\(env)")
        #expect(env["RPA_SECRETS_ON_STDIN"] == "1" && s.workerStdinLine == "hunter2\n")
        #expect(env["HANDLER_EMISSAO"] == "cat")
        #expect(env["ORCHESTRATOR_PID"] == "42")
        #expect(env["RPA_PASSWORD"] == "p")
        #expect(!s.summary.contains("hunter2"))
    }
}

@Suite("JSON records and persistent answers (pure)")
struct RecordTests {
    @Test("strings are escaped; non-UTF-8 bytes become base64 with a marker")
    func writer() throws {
        var w = JSONObjectWriter()
        w.string("s", "a\"b\\c\n\u{01}é")
        w.bytes("p", [0x00, 0x41])
        w.bytes("b", [0xFF, 0x00])
        w.number("n", 3)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(w.data)) as? [String: Any])
        #expect(object["s"] as? String == "a\"b\\c\n\u{01}é")
        #expect(object["p"] as? String == "\u{0}A")
        #expect(object["p_encoding"] == nil)
        #expect(object["b"] as? String == "/wA=")
        #expect(object["b_encoding"] as? String == "base64")
        #expect(object["n"] as? Int == 3)
    }

    @Test("persistent answers: ok, failed, ok-flag, JSON output kept as JSON, restart request; garbage is nil")
    func answers() {
        #expect(PersistentHandler.parseAnswer(Array(#"{"status":"ok","output":"x"}"#.utf8))?.outcome == HandlerOutcome(status: .ok, output: Array("x".utf8)))
        #expect(PersistentHandler.parseAnswer(Array(#"{"status":"failed","error":"login expired"}"#.utf8))?.outcome
                == HandlerOutcome(status: .failed, error: "login expired"))
        #expect(PersistentHandler.parseAnswer(Array(#"{"ok":true,"output":{"n":1}}"#.utf8))?.outcome
                == HandlerOutcome(status: .ok, outputJSON: .object(["n": .integer(1)])))
        #expect(PersistentHandler.parseAnswer(Array(#"{"status":"ok","output":[1,"a",1.5,null,true]}"#.utf8))?.outcome.outputJSON
                == .array([.integer(1), .string("a"), .number(1.5), .null, .bool(true)]))
        #expect(PersistentHandler.parseAnswer(Array(#"{"status":"ok","output":"{\"n\":1}"}"#.utf8))?.outcome.outputJSON == nil,
                "a string output stays a string, even when it looks like JSON")
        #expect(PersistentHandler.parseAnswer(Array(#"{"status":"failed","error":"x","restart":true}"#.utf8))?.restart == true)
        #expect(PersistentHandler.parseAnswer(Array(#"{"status":"ok"}"#.utf8))?.restart == false)
        #expect(PersistentHandler.parseAnswer(Array(#"{"status":"failed"}"#.utf8))?.outcome.error == "persistent handler reported failure without an error text")
        #expect(PersistentHandler.parseAnswer(Array("not json".utf8)) == nil)
        #expect(PersistentHandler.parseAnswer(Array(#"{"status":"maybe"}"#.utf8)) == nil)
        #expect(PersistentHandler.parseAnswer(Array("[1,2]".utf8)) == nil)
    }

    @Test("result records round-trip: UTF-8 and binary payloads, byte and JSON outputs, numeric attempts")
    func resultRecordRoundTrip() throws {
        for (payload, output) in [(Array("plain ✓".utf8), RecordOutput.bytes(Array("out".utf8))),
                                  ([0x00, 0xFF, 0x0A], RecordOutput.bytes([0xFE, 0x00])),
                                  (Array("{}".utf8), RecordOutput.json(.object(["confirmation": .string("C-1"), "n": .integer(2)])))] {
            let record = ResultRecord(queue: "q", payload: payload, status: .ok, output: output, outputTruncated: true, error: nil,
                                      attempts: 2, worker: "q-1-h-9", jobID: SHA1.hex(payload),
                                      startedAt: "2026-11-30T10:00:00.000Z", finishedAt: "2026-11-30T10:00:01.000Z")
            #expect(try JSONDecoder().decode(ResultRecord.self, from: Data(record.encoded)) == record)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(record.encoded)) as? [String: Any])
            #expect(object["attempts"] as? Int == 2, "attempts is a number for the existing writer")
            #expect((object["payload_encoding"] as? String == "base64") == (String(validatingUTF8Bytes: payload) == nil))
        }
        let json = ResultRecord(queue: "q", payload: [], status: .ok, output: .json(.object(["confirmation": .string("C-1")])), error: nil,
                                attempts: 1, worker: "w", jobID: "", startedAt: "", finishedAt: "")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.encoded)) as? [String: Any])
        #expect((object["output"] as? [String: Any])?["confirmation"] as? String == "C-1", "a JSON output is JSON, not a string")
    }

    @Test("dead letters and persistent requests round-trip")
    func otherRecordsRoundTrip() throws {
        let dead = DeadLetter(queue: "q", payload: [0xFF, 0x41], error: "gave up", attempts: 3, worker: "w", failedAt: "2026-11-30T10:00:00.000Z")
        #expect(try JSONDecoder().decode(DeadLetter.self, from: Data(dead.encoded)) == dead)
        let request = PersistentRequest(id: "abc", queue: "q", attempt: 2, payload: Array("{\"record\":\"R-1\"}".utf8))
        #expect(request.line.last == UInt8(ascii: "\n"))
        #expect(try JSONDecoder().decode(PersistentRequest.self, from: Data(request.line.dropLast())) == request)
    }
}
