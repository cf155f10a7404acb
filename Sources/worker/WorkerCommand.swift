import ArgumentParser
import CLISupport
import CShims
import Foundation
import Logging
import OrchestratorCore

@main
struct WorkerCommand: ParsableCommand, OptionValueSource {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Take jobs from one Redis queue and run each in an isolated handler process.",
        usage: """
        worker --queue <name> [--slot <n>] [--handler <command>] [<options>]
        worker --check --queue <name> [--slot <n>] [--check-max-age <duration>] [--check-redis]
        """,
        discussion: """
        Normally started by `orchestrator`, but runnable alone (systemd, Kubernetes). Every \
        option also reads the environment variable named in its help; the flag wins. Secrets \
        (REDIS_PASSWORD, RPA credentials) belong in the environment, never on the command line; \
        the worker re-executes itself at start to move REDIS_PASSWORD and HTTP_TOKEN out of its \
        environment, and no handler gets them. \
        TERM/INT/HUP: finish the current job, exit 0. Exit codes: 0 drained, 64 bad flags or \
        env, 69 Redis unreachable or wrong credentials, 70 internal error, 75 recycled (max \
        jobs or memory reached: start a new one). `worker --check --queue Q [--slot N]` is a \
        probe: exit 0 when that worker's loop beat within --check-max-age (its --health-file), \
        1 when not; with --check-redis also 1 when Redis does not answer PING.
        """,
        version: Version.string)

    @Option(help: ArgumentHelp("Queue to work on; the Redis key is <prefix><NAME>.", valueName: "name")) var queue: String
    @Option(help: ArgumentHelp(.slot)) var slot: String?
    @Option(help: ArgumentHelp("Command run for each job: plain words are started directly, anything with shell syntax through /bin/sh -c (env HANDLER_<QUEUE>, then HANDLER).", valueName: "command"))
    var handler: String?
    @Option(help: ArgumentHelp(.healthFile)) var healthFile: String?
    @Flag(help: "Probe instead of working: exit 0 when the worker of --queue/--slot beat within --check-max-age, else 1.") var check = false
    @Option(help: ArgumentHelp("With --check: how old the last beat may be (default 30s).", valueName: "duration")) var checkMaxAge: String?
    @Flag(help: "With --check: also exit 1 when Redis does not answer PING (a readiness probe).") var checkRedis = false
    @OptionGroup var shared: SharedJobOptions

    /// The orchestrator starts every worker as `worker --queue NAME --slot N` with the rest in the
    /// environment: that exact shape skips the argument parser (a sixth of a worker's start-up
    /// CPU, which counts when workers are recycled after every job). Anything else is parsed.
    static func main() {
        // Before anything else: a secret in our initial environment would stay readable in
        // /proc/<pid>/environ by every handler; re-exec without it (same pid and arguments).
        ChildEnvironment.reexecWithoutSecrets(ProcessInfo.processInfo.environment)
        let args = Array(CommandLine.arguments.dropFirst())
        if args.count == 4, args[0] == "--queue", args[2] == "--slot", !args[1].hasPrefix("-"), Int(args[3]) != nil {
            var values = OptionValues()
            values[.slot] = args[3]
            do {
                let code = try work(queue: args[1], handler: nil, values: values)
                Foundation.exit(code)
            } catch let e as ExitCode {
                Foundation.exit(e.rawValue)
            } catch {
                FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
                Foundation.exit(ExitCodes.software)
            }
        }
        Self.main(nil)
    }

    func run() throws {
        if check { try probe() }
        let code = try Self.work(queue: queue, handler: handler, values: optionValues)
        if code != 0 { throw ExitCode(code) }
    }

    /// Resolves the settings, connects and runs the loop; returns the exit code.
    static func work(queue: String, handler: String?, values: OptionValues) throws -> Int32 {
        let environment = try environmentWithPassword()
        rpa_install_signal_handlers()
        let resolver = OptionResolver(environment: environment)
        let settings: WorkerSettings
        do {
            settings = try WorkerSettings.resolve(queue: queue, handler: handler, values: values, resolver)
        } catch {
            throw badConfig(error.description)
        }
        let sink = LogSink(fds: [STDERR_FILENO])
        var logger = Logger(label: "worker") { _ in LineLogHandler(sink: sink, settings: settings.log) }
        logger[metadataKey: "worker"] = "\(settings.queue)-\(settings.slot)"
        if let warning = HandlerCheck.warning(settings.handler, path: ProcessInfo.processInfo.environment["PATH"]) {
            logger.warning("config.handler_unchecked", metadata: ["warning": "\(warning)"])
        }
        _ = rpa_set_child_subreaper()

        let connection = try connectOrExit(settings.job.redis, logger: logger)
        let reaper = Reaper()
        // Least privilege: handlers get the RPA credentials from the environment, none of ours.
        var env = ChildEnvironment.withoutSecrets(ProcessInfo.processInfo.environment)
        env["REDIS_URL"] = nil
        env["WORKER_QUEUE"] = settings.queue
        env["WORKER_SLOT"] = String(settings.slot)
        env["RPA_HANDLER_MODE"] = settings.job.handlerMode.rawValue  // the Python SDK's serve() reads it
        let runner: JobRunner = settings.job.handlerMode == .exec
            ? ExecHandler(command: settings.handler, environment: env, reaper: reaper)
            : PersistentHandler(command: settings.handler, environment: env, reaper: reaper)
        let loop = WorkerLoop(settings: settings, link: RedisLink(connection: connection, logger: logger), runner: runner, reaper: reaper,
                              fence: LeaseFence.fromEnvironment(ProcessInfo.processInfo.environment), logger: logger)
        return loop.run()
    }

    /// Our environment, plus `REDIS_PASSWORD` read from stdin when it was handed over there
    /// (`RPA_SECRETS_ON_STDIN`): only the resolver sees it, never `environ` or a child.
    static func environmentWithPassword() throws -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        if environment[ChildEnvironment.passwordOnStdin] == "1" {
            do {
                let passwords = try ChildEnvironment.receivePasswords()
                environment["REDIS_PASSWORD"] = passwords.redis
                environment["REDIS_SENTINEL_PASSWORD"] = passwords.sentinel
            } catch { throw badConfig(error.description) }
        }
        return environment
    }

    /// `--check`: liveness from the health file (no Redis needed), readiness adds a PING.
    func probe() throws -> Never {
        let resolver = OptionResolver(environment: try Self.environmentWithPassword())
        do { try validateQueueName(queue, flag: "--queue") } catch { throw badConfig(error.description) }
        let values = optionValues
        let maxAgeText = checkMaxAge ?? "30s"
        let slotNumber: Int
        let maxAge: Duration
        do {
            slotNumber = try resolver.int(values, .slot, range: 0...1_000_000)
            guard let age = parseDuration(maxAgeText), age > .zero else {
                throw ConfigError(flag: "--check-max-age", message: "expected a duration like 30s, got '\(maxAgeText)'")
            }
            maxAge = age
        } catch { throw badConfig("\(error)") }
        let path = WorkerSettings.healthFile(queue: queue, slot: slotNumber, values: values, resolver)
        var st = stat()
        guard stat(path, &st) == 0 else {
            print("not alive: \(path) does not exist (the worker has not started, or --health-file differs)")
            Foundation.exit(1)
        }
        let age = Date().timeIntervalSince1970 - (Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9)
        guard age <= maxAge.seconds else {
            print("not alive: last beat \(String(format: "%.1f", age)) s ago (more than \(maxAgeText)) in \(path)")
            Foundation.exit(1)
        }
        if checkRedis {
            let job: JobSettings
            do { job = try JobSettings.resolve(values, resolver) } catch { throw badConfig(error.description) }
            let connection = RedisConnection(endpoint: job.redis, connectTimeout: .seconds(2), commandTimeout: .seconds(2))
            guard (try? connection.connect()) != nil, (try? connection.send(["PING"])) == .status("PONG") else {
                print("not ready: Redis at \(job.redis) does not answer")
                Foundation.exit(1)
            }
        }
        print("ok: last beat \(String(format: "%.1f", age)) s ago\(checkRedis ? ", Redis answers" : "")")
        Foundation.exit(0)
    }
}
