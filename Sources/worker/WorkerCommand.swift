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
        discussion: """
        Normally started by `orchestrator`, but runnable alone (systemd, Kubernetes). Every \
        option also reads the environment variable named in its help; the flag wins. Secrets \
        (REDIS_PASSWORD, RPA credentials) belong in the environment, never on the command line. \
        TERM/INT/HUP: finish the current job, exit 0. Exit codes: 0 drained, 64 bad flags or \
        env, 69 Redis unreachable or wrong credentials, 70 internal error, 75 recycled (max \
        jobs or memory reached: start a new one).
        """,
        version: Version.string)

    @Option(help: ArgumentHelp("Queue to work on; the Redis key is <prefix><NAME>.", valueName: "name")) var queue: String
    @Option(help: ArgumentHelp(.slot)) var slot: String?
    @Option(help: ArgumentHelp("Command run with /bin/sh -c for each job (env HANDLER_<QUEUE>, then HANDLER).", valueName: "command")) var handler: String?
    @OptionGroup var shared: SharedJobOptions

    func run() throws {
        rpa_install_signal_handlers()
        let resolver = OptionResolver(environment: ProcessInfo.processInfo.environment)
        let settings: WorkerSettings
        do {
            settings = try WorkerSettings.resolve(queue: queue, handler: handler, values: optionValues, resolver)
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
        var env = ProcessInfo.processInfo.environment
        // Least privilege: handlers get the RPA credentials from the environment, not Redis'.
        env["REDIS_PASSWORD"] = nil
        env["REDIS_URL"] = nil
        env["WORKER_QUEUE"] = settings.queue
        env["WORKER_SLOT"] = String(settings.slot)
        let runner: JobRunner = settings.job.handlerMode == .exec
            ? ExecHandler(command: settings.handler, environment: env, reaper: reaper)
            : PersistentHandler(command: settings.handler, environment: env, reaper: reaper)
        let loop = WorkerLoop(settings: settings, link: RedisLink(connection: connection, logger: logger), runner: runner, reaper: reaper, logger: logger)
        let code = loop.run()
        if code != 0 { throw ExitCode(code) }
    }
}
