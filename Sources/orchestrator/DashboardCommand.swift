import ArgumentParser
import CLISupport
import Dashboard
import Foundation
import Logging
import OrchestratorCore

/// `orchestrator dashboard`: the dashboard and `/api/` without supervising workers, e.g. on an
/// operator's machine that reaches Redis (like `status`). TERM or INT stop it (exit 0).
struct DashboardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard",
        abstract: "Serve the dashboard and the JSON API from Redis without supervising workers (a viewer for another host).",
        discussion: "Listens on 127.0.0.1:9464 unless --http-listen says otherwise. No /metrics here (404): it is served by `orchestrator run`.")
    static let defaultListen = "127.0.0.1:9464"
    @OptionGroup var target: RedisTargetOptions
    @Option(help: ArgumentHelp("Serve the dashboard, /api/ and the health endpoints on HOST:PORT (an empty host is loopback; any other address needs a token) (env HTTP_LISTEN, default 127.0.0.1:9464).",
                               valueName: OptionSpec.httpListen.valueName))
    var httpListen: String?
    @Option(help: ArgumentHelp(.httpToken)) var httpToken: String?
    @Option(help: ArgumentHelp(.httpTokenFile)) var httpTokenFile: String?

    func run() throws {
        let env = ProcessInfo.processInfo.environment
        var values = OptionValues()
        values[.httpListen] = httpListen
        values[.httpToken] = httpToken
        values[.httpTokenFile] = httpTokenFile
        let resolver = OptionResolver(environment: env)
        if !resolver.isGiven(values, .httpListen) && !resolver.isGiven(values, .metricsListen) { values[.httpListen] = Self.defaultListen }
        let http: HTTPSettings
        do {
            guard let resolved = try HTTPSettings.resolve(values, resolver, required: true) else { throw badConfig("--http-listen: an address is required") }
            http = resolved
        } catch let error as ConfigError { throw badConfig(error.description) }
        let requested = try target.requestedQueues()
        let job = try target.jobSettings()
        let (connection, _, _) = try target.connect(command: "dashboard")  // exit 69 now rather than serve a dead Redis
        connection.close()
        let logger = Logger(label: "dashboard") { _ in LineLogHandler(sink: LogSink(fds: [STDERR_FILENO])) }
        if httpToken != nil { logger.warning("config.secret_in_argv", metadata: ["hint": "--http-token is visible in ps; pass it in HTTP_TOKEN or --http-token-file"]) }
        let server = DashboardServer(.init(http: http, redis: job.redis, prefix: job.prefix, queues: requested, metrics: nil), logger: logger)
        let port: Int
        do { port = try server.start() } catch { throw badConfig(error.description) }
        server.announce(port: port, to: logger)
        let stops: [Int32] = [SIGTERM, SIGINT]
        for sig in stops { Glibc.signal(sig, SIG_IGN) }
        let sources = stops.map { (sig: Int32) -> DispatchSourceSignal in
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .main)
            s.setEventHandler { logger.info("dashboard.stopped", metadata: ["signal": "\(sig)"]); Glibc.exit(0) }
            s.resume()
            return s
        }
        withExtendedLifetime(sources) { dispatchMain() }
    }
}
