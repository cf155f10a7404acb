import ArgumentParser
import CLISupport
import CShims
import Dashboard
import Foundation
import Logging
import OrchestratorCore

@main
struct Orchestrator: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "orchestrator",
        abstract: "Keep the right number of isolated worker processes running for Redis job queues.",
        discussion: """
        `orchestrator --max-total 20 ...` runs `run`, the default: see `orchestrator run --help` \
        for every option, its default and its environment variable. Signals: TERM/INT drain \
        (a second one drains at once), HUP reopens the log. Exit codes: 0 clean stop or drain, \
        64 bad flags or env, 69 Redis unreachable at start or wrong credentials, 70 internal \
        error, 73 another live orchestrator runs under the same --host-id on this prefix; \
        `status` exits 3 when neither an orchestrator nor a worker is running.
        """,
        version: Version.string,
        subcommands: [Run.self, Status.self, Dead.self, Pause.self, Resume.self, Events.self, Alerts.self, History.self, DashboardCommand.self, JobCommand.self],
        defaultSubcommand: Run.self)
}

/// Options naming queues, shared by `run` and `status`.
struct QueueOptions: ParsableArguments {
    @Option(name: .customLong("queue"), help: ArgumentHelp("Queue to watch, repeatable (env QUEUES as a comma list; default conferencia,emissao).", valueName: "name"))
    var queues: [String] = []
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Watch the queues and supervise workers (the default).")

    @OptionGroup var queueOptions: QueueOptions
    @Option(name: .customLong("handler"), help: ArgumentHelp("NAME=COMMAND: what a worker runs for each job of queue NAME, repeatable (env HANDLER_<NAME>).", valueName: "name=command"))
    var handlers: [String] = []
    @OptionGroup var options: RunOptions

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        var flags = OrchestratorSettings.Flags()
        flags.values = options.optionValues
        flags.queues = queueOptions.queues
        flags.handlers = handlers
        let resolver = OptionResolver(environment: environment)
        let settings: OrchestratorSettings
        do {
            settings = try OrchestratorSettings.resolve(flags, resolver, defaultWorkerPath: defaultWorkerPath())
        } catch {
            throw badConfig(error.description)
        }
        let logDirSource = resolver.raw(flags.values, .logDir)?.source ?? "--log-dir"
        do {
            try FileManager.default.createDirectory(atPath: settings.logDir, withIntermediateDirectories: true)
        } catch {
            throw badConfig("\(logDirSource): cannot create directory '\(settings.logDir)': \(String(cString: strerror(errno)))")
        }
        let http: HTTPSettings?
        do { http = try HTTPSettings.resolve(flags.values, resolver) } catch { throw badConfig(error.description) }
        let (sink, sinkError) = LogSink.open("\(settings.logDir)/orchestrator.log", destination: settings.log.destination)
        if let sinkError { throw badConfig("\(logDirSource): cannot write '\(settings.logDir)/orchestrator.log': \(sinkError)") }
        let logger = Logger(label: "orchestrator") { _ in LineLogHandler(sink: sink, settings: settings.log) }
        warnAtStart(settings, http: http, environment: environment, logger: logger)
        try supervise(settings, http: http, sink: sink, environment: environment, logger: logger)
    }

    /// The configuration line, and warnings about handlers and secrets on the command line.
    private func warnAtStart(_ settings: OrchestratorSettings, http: HTTPSettings?, environment: [String: String], logger: Logger) {
        logger.info("\(LogEvents.config)", metadata: ["settings": "\(settings.summary)"])
        for q in settings.queues {
            if let command = settings.handlers[q], let warning = HandlerCheck.warning(command, path: environment["PATH"]) {
                logger.warning("config.handler_unchecked", metadata: ["queue": "\(q)", "warning": "\(warning)"])
            }
        }
        if http?.tokenInArgv == true {
            logger.warning("config.secret_in_argv", metadata: ["hint": "--http-token is visible in ps; pass it in HTTP_TOKEN or --http-token-file"])
        }
        if let url = options.shared.redisURL, (try? RedisEndpoint.parse(url))?.password != nil {
            logger.warning("config.secret_in_argv", metadata: ["hint": "the Redis password in --redis-url is visible in ps; pass it in REDIS_PASSWORD (workers get it on their stdin, never in argv or environment)"])
        }
    }

    /// Connects, joins the fleet, starts the signal forwarding and the HTTP server, and runs the
    /// supervisor until it has drained; then stops the signal forwarding. The HTTP server serves
    /// until the process exits (stopping it while a connection arrives traps in NIO).
    private func supervise(_ settings: OrchestratorSettings, http: HTTPSettings?, sink: LogSink, environment: [String: String], logger: Logger) throws {
        let connection = try connectOrExit(settings.job.redis, logger: logger)
        let fleet = FleetMembership(prefix: settings.job.prefix, settings: settings.fleet, policy: settings.policy)
        try joinFleetOrExit(fleet, connection, logger: logger)
        // Orphaned handler processes of a worker that dies are re-parented to us, so we can kill them.
        _ = rpa_set_child_subreaper()
        let inbox = EventInbox()
        let signals = SignalEvents.forward([SIGTERM, SIGINT, SIGHUP], to: inbox)
        let supervisor = Supervisor(settings: settings, launcher: FoundationProcessLauncher(inbox: inbox), inbox: inbox,
                                    link: RedisLink(connection: connection, logger: logger), logger: logger, environment: environment,
                                    fleet: fleet)
        supervisor.reopenLogs = { sink.reopen() }
        let server = try http.map { try serve($0, settings, supervisor: supervisor, logger: logger) }
        let code = supervisor.run()
        server?.stop(logger: logger)  // after the drain: /metrics and the page answer until it is done
        SignalEvents.stop(signals)
        if code != 0 { throw ExitCode(code) }
    }

    /// Starts the HTTP server (dashboard, API, `/metrics`) on the snapshot the supervisor publishes.
    private func serve(_ http: HTTPSettings, _ settings: OrchestratorSettings, supervisor: Supervisor, logger: Logger) throws -> DashboardServer {
        let metricsBox = MetricsBox()
        let server = DashboardServer(.init(http: http, redis: settings.job.redis, prefix: settings.job.prefix, queues: settings.queues,
                                           metrics: metricsBox, liveWindow: max(.seconds(30), settings.pollInterval * 10),
                                           hostID: settings.fleet.hostID), logger: logger)
        supervisor.metrics = metricsBox
        let port: Int
        do { port = try server.start() } catch { throw badConfig(error.description) }
        server.announce(port: port, to: logger)
        return server
    }

    private func defaultWorkerPath() -> String {
        let exe = Bundle.main.executableURL?.resolvingSymlinksInPath() ?? URL(fileURLWithPath: CommandLine.arguments[0])
        return exe.deletingLastPathComponent().appendingPathComponent("worker").path
    }
}
