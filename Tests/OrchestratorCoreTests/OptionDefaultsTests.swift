import CLISupport
import Foundation
import OrchestratorCore
import Testing

/// A default is written once, in its `OptionSpec`: these fail when a copy elsewhere (a type's
/// initializer, the README) drifts from it.
@Suite("option defaults are written once (specs → types, README)")
struct OptionDefaultsTests {
    /// The spec's default text, parsed here by the plain parsers (not by the spec's own accessors).
    func int(_ spec: OptionSpec) -> Int? { spec.defaultValue.flatMap { Int($0) } }
    func duration(_ spec: OptionSpec) -> Duration? { spec.defaultValue.flatMap(parseDuration) }

    @Test("every spec's default parses under its own type and range")
    func everyDefaultParses() throws {
        let r = OptionResolver(environment: [:])
        let none = OptionValues()
        for spec in OptionSpec.all where spec.defaultValue != nil {
            switch spec.type {
            case .int: _ = try r.int(none, spec)
            case .duration: _ = try r.duration(none, spec)
            case .durationOrOff: _ = try r.durationOrOff(none, spec)
            case .percent: _ = try r.fraction(none, spec)
            case .rate: _ = try r.rate(none, spec)
            case .choice: #expect(spec.choices.contains(spec.defaultValue ?? ""), "\(spec.flag)")
            case .text: break
            }
        }
    }

    @Test("ScalingPolicy(), AlertSettings(), FleetSettings and the settings' own defaults are the specs'")
    func typeDefaultsAreTheSpecs() throws {
        let p = ScalingPolicy()
        #expect(p.jobsPerWorker == int(.jobsPerWorker) && p.minPerQueue == int(.minPerQueue))
        #expect(p.maxPerQueue == int(.maxPerQueue) && p.maxTotal == int(.maxTotal))
        #expect(p.scaleDownDelay == duration(.scaleDownDelay))
        let a = AlertSettings()
        #expect(a.capReachedFor == duration(.alertCapFor) && a.redisDownFor == duration(.alertRedisDownFor))
        #expect(a.deadLettersWindow == duration(.alertDeadWindow) && a.noProgressFor == duration(.alertNoProgressFor))
        #expect(a.repeatEvery == duration(.alertRepeat))
        #expect("\(a.crashLoopCount)/\(formatDuration(a.crashLoopWindow))" == OptionSpec.alertCrashLoop.defaultValue)
        #expect("\(Int((a.stuckFraction * 100).rounded()))%" == OptionSpec.alertStuckAt.defaultValue)
        #expect("\(Int((a.memoryFraction * 100).rounded()))%" == OptionSpec.alertMemoryAt.defaultValue)
        #expect(FleetSettings(hostID: "h", hostMaxWorkers: 1).leaseTTL == duration(.leaseTTL))
        var flags = OrchestratorSettings.Flags()
        flags.handlers = ["conferencia=cat", "emissao=cat"]
        let resolved = try OrchestratorSettings.resolve(flags, OptionResolver(environment: [:]), defaultWorkerPath: "/bin/true")
        #expect(resolved.policy == p && resolved.alerts == a && resolved.fleet.leaseTTL == duration(.leaseTTL))
        #expect(resolved.queues == QueueList.defaultQueues)
        #expect(resolved.eventsMax == int(.eventsMax) && resolved.historyRetention == duration(.historyRetention))
        #expect(resolved.job.resultTTL == duration(.resultTTL))
        #expect(resolved.log == LogSettings(), "LogSettings()'s defaults are the --log-* specs'")
    }

    /// The README's "orchestrator options" table and the thresholds quoted in "History and alerts".
    @Test("the defaults the README documents are the specs'")
    func readmeDefaultsAreTheSpecs() throws {
        let readme = try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("README.md"), encoding: .utf8)
        var documented: [String: String] = [:]
        for line in Self.section("## orchestrator options", of: readme).split(separator: "\n") where line.hasPrefix("| `--") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 3, let flag = cells[0].dropFirst().split(whereSeparator: { $0 == "`" || $0 == " " }).first else { continue }
            documented[String(flag)] = cells[2].replacingOccurrences(of: "`", with: "")
                .replacingOccurrences(of: " (off)", with: "")
        }
        let alerts = Self.section("## History and alerts", of: readme)
        let quoted = try NSRegularExpression(pattern: "`(--[a-z-]+)`,? \\(?(?:default )?([0-9][0-9a-z/%.,]*[0-9a-z%])")
        for m in quoted.matches(in: alerts, range: NSRange(alerts.startIndex..., in: alerts)) {
            guard let flag = Range(m.range(at: 1), in: alerts), let value = Range(m.range(at: 2), in: alerts) else { continue }
            documented[String(alerts[flag])] = alerts[value].replacingOccurrences(of: ",", with: "")
        }
        var checked = 0
        for spec in OptionSpec.all {
            guard let value = spec.defaultValue, let readmeValue = documented[spec.flag] else { continue }
            #expect(readmeValue == value, "README documents \(spec.flag) default \(readmeValue), the spec says \(value)")
            checked += 1
        }
        #expect(checked >= 30, "the README tables were not found (\(checked) defaults compared)")
    }

    static func section(_ heading: String, of text: String) -> String {
        guard let start = text.range(of: "\n" + heading + "\n") else { return "" }
        let rest = text[start.upperBound...]
        return String(rest[..<(rest.range(of: "\n## ")?.lowerBound ?? rest.endIndex)])
    }
}

/// `QUEUES` and `--queue` mean the same to `run` and to the commands that read Redis.
@Suite("the queue list is parsed by one function")
struct QueueListTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var flags: [String] = []
        var queues: String?
        var testDescription: String { "--queue \(flags) QUEUES=\(queues.map { "'\($0)'" } ?? "unset")" }
    }

    @Test("`orchestrator run` and `status`/`dead`/`pause` give the same queues or the same error", arguments: [
        Case(), Case(queues: "a,b"), Case(queues: " a , b ,"), Case(queues: ","), Case(queues: ""), Case(queues: " "),
        Case(queues: "a,a"), Case(flags: ["a", "a"]), Case(queues: "a b"), Case(queues: "a:b"), Case(flags: ["x"], queues: "a,b"),
        Case(flags: [""]), Case(queues: "a,,b"),
    ])
    func bothEntryPointsAgree(_ c: Case) throws {
        var env = ["HANDLER": "cat"]
        env["QUEUES"] = c.queues
        var flags = OrchestratorSettings.Flags()
        flags.queues = c.flags
        let run = Result { () throws(ConfigError) in
            try OrchestratorSettings.resolve(flags, OptionResolver(environment: env), defaultWorkerPath: "/bin/true").queues
        }
        let options = try RedisTargetOptions.parse(c.flags.flatMap { ["--queue", $0] })
        let status = Result { () throws(ConfigError) in try options.queueList(environment: env) ?? QueueList.defaultQueues }
        #expect(run == status)
    }

    @Test("an empty QUEUES, a duplicate and a bad name are refused naming their source")
    func refusals() throws {
        let options = try RedisTargetOptions.parse([])
        #expect(throws: ConfigError(flag: "--queue (from QUEUES)", message: "the queue list is empty")) {
            try options.queueList(environment: ["QUEUES": ","])
        }
        #expect(throws: ConfigError(flag: "--queue (from QUEUES)", message: "a queue is listed twice: a,a")) {
            try options.queueList(environment: ["QUEUES": "a,a"])
        }
        #expect(try options.queueList(environment: [:]) == nil)
    }
}

@Suite("what the orchestrator passes to workers comes from the specs")
struct WorkerEnvironmentSpecTests {
    @Test("the options passed to workers are exactly the worker's shared options")
    func passedAreShared() {
        for spec in OptionSpec.all {
            let parses = (try? SharedJobOptions.parse([spec.flag, "x"])) != nil
            #expect(parses == OptionSpec.passedToWorkers.contains(spec), "\(spec.flag)")
        }
    }

    @Test("a worker resolves, from the environment it is given, the job and log settings of its orchestrator")
    func roundTrip() throws {
        var flags = OrchestratorSettings.Flags()
        flags.handlers = ["emissao=cat"]
        flags.queues = ["emissao"]
        let given: [OptionSpec: String] = [
            .redisURL: "redis://robot@10.1.2.3:6380/4", .redisSentinel: "s1:26379,s2:26380", .redisSentinelMaster: "main", .prefix: "jobs:",
            .handlerMode: "persistent", .jobTimeout: "1.5s", .maxAttempts: "7", .retryDelay: "250ms", .maxJobsPerWorker: "9",
            .maxWorkerRSSMB: "512", .output: "json", .resultTTL: "2h", .logFormat: "json", .logTime: "iso", .logLevel: "debug",
        ]
        #expect(Set(given.keys) == Set(OptionSpec.passedToWorkers), "every passed option is given a non-default value here")
        for (spec, value) in given { flags.values[spec] = value }
        let s = try OrchestratorSettings.resolve(flags, OptionResolver(environment: [:]), defaultWorkerPath: "/bin/true")
        let env = s.workerEnvironment(base: ["PATH": "/usr/bin:/bin"], queue: "emissao", orchestratorPID: 42)
        for spec in OptionSpec.passedToWorkers { #expect(env[spec.env] != nil, "\(spec.env)") }
        let w = try WorkerSettings.resolve(queue: "emissao", handler: nil, values: OptionValues(), OptionResolver(environment: env))
        #expect(w.job == s.job)
        #expect(w.log.format == s.log.format && w.log.time == s.log.time && w.log.level == s.log.level)
    }
}
