import Logging
import OrchestratorCore

/// A `Supervisor` on the test server for tests that drive it by hand (`poll()`, events): one
/// queue `q` run by `cat`, the given prefix, no process environment but PATH. `extra` sets more
/// flags (a host id, a drain timeout); `redisURL` points it at a private server.
public func makeSupervisor(prefix: String? = nil, launcher: ProcessLauncher, logger: Logger, redisURL: String = TestEnv.redisURL,
                           _ extra: (inout OrchestratorSettings.Flags) -> Void = { _ in }) throws -> Supervisor {
    var flags = OrchestratorSettings.Flags()
    flags.queues = ["q"]
    flags.handlers = ["q=cat"]
    flags.values[.redisURL] = redisURL
    if let prefix { flags.values[.prefix] = prefix }
    extra(&flags)
    let settings = try OrchestratorSettings.resolve(flags, OptionResolver(environment: [:]), defaultWorkerPath: "/bin/true")
    let connection = RedisConnection(endpoint: settings.job.redis)
    try connection.connect()
    return Supervisor(settings: settings, launcher: launcher, inbox: EventInbox(), link: RedisLink(connection: connection, logger: logger),
                      logger: logger, environment: ["PATH": "/usr/bin"])
}
