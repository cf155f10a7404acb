import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTPTypes
import NIOPosix
import OrchestratorCore
import ServiceLifecycle
import Synchronization

/// The request context: bodies are tiny (actions carry none), so anything above 1 KB is refused.
struct DashboardContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// The peer's IP address, for the log (`client=`).
    let client: String
    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        client = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }
    var maxUploadSize: Int { 1024 }
    /// Every `/api/` answer is encoded in its declared key order (`OrderedJSONEncoder`).
    var responseEncoder: OrderedJSONEncoder { OrderedJSONEncoder() }
}

/// The HTTP side of the orchestrator (Hummingbird on one event-loop thread of its own): the
/// dashboard page, the JSON API under `/api/`, `/metrics` and the health endpoints. It reads the
/// snapshot the control loop publishes (`MetricsBox`) and Redis on its own connection; it never
/// takes the control loop's locks beyond copying that snapshot.
public final class DashboardServer: Sendable {
    public struct Configuration: Sendable {
        public var http: HTTPSettings
        public var redis: RedisEndpoint
        public var prefix: String
        /// The queues shown (nil: the running orchestrator's).
        public var queues: [String]?
        /// The control loop's snapshot; nil in `orchestrator dashboard` (no supervision: no /metrics).
        public var metrics: MetricsBox?
        /// `/livez` fails when the control loop has not published for this long.
        public var liveWindow: Duration
        /// How long a client may take to send a whole request.
        public var requestTimeout: Duration
        /// The `host` of the events an action writes (`--host-id` in `run`).
        public var hostID: String

        public init(http: HTTPSettings, redis: RedisEndpoint, prefix: String, queues: [String]?, metrics: MetricsBox?,
                    liveWindow: Duration = .seconds(30), requestTimeout: Duration = .seconds(10), hostID: String = WallClock.hostName()) {
            self.http = http; self.redis = redis; self.prefix = prefix; self.queues = queues; self.metrics = metrics
            self.liveWindow = liveWindow; self.requestTimeout = requestTimeout; self.hostID = hostID
        }
    }

    let configuration: Configuration
    let data: DashboardData
    let logger: Logger
    let refusals = RefusalLog()
    /// The running server (its service group and the task running it), for `stop`.
    private let running = Mutex<(group: ServiceGroup, task: Task<Void, Never>, loop: MultiThreadedEventLoopGroup)?>(nil)

    public init(_ configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.data = DashboardData(endpoint: configuration.redis, prefix: configuration.prefix, queues: configuration.queues, hostID: configuration.hostID)
        var quiet = logger
        quiet.logLevel = .warning
        self.logger = quiet
    }

    /// Binds and starts serving; returns the bound port. A bind failure is a `ConfigError` naming the flag.
    public func start() throws(ConfigError) -> Int {
        let bound = BindResult()
        let http = configuration.http
        let loop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let timeout = TimeAmount.milliseconds(configuration.requestTimeout.milliseconds)
        let app = Application(
            responder: makeResponder(),
            server: .http1(configuration: .init(
                additionalChannelHandlers: [RequestDeadline(timeout: timeout)], idleTimeout: .seconds(30),
                httpDecoderConfiguration: .init(maxHeaderFieldSize: 8192, maxHeaderListSize: 16_384, maxHeaderFieldCount: 64))),
            configuration: .init(address: .hostname(http.host, port: http.port), serverName: "rpa-orchestrator"),
            onServerRunning: { channel in bound.set(.success(channel.localAddress?.port ?? 0)) },
            eventLoopGroupProvider: .shared(loop),
            logger: logger)
        // In a service group of its own (no signal of its own: the orchestrator's drain decides),
        // so `stop` can shut it down gracefully: requests in flight get their answers.
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
        let task = Task.detached {
            do { try await group.run() } catch { bound.set(.failure(error)) }
        }
        running.withLock { $0 = (group, task, loop) }
        switch bound.wait(timeout: 10) {
        case .success(let port): return port
        case .failure(let error): throw ConfigError(flag: http.source, message: "cannot listen on \(http.host):\(http.port): \(error)")
        case nil: throw ConfigError(flag: http.source, message: "cannot listen on \(http.host):\(http.port): no answer within 10 s")
        }
    }

    /// Stops serving: no new connection is accepted, requests in flight get their answers, then
    /// the server's thread ends. Waits at most `timeout` (a client that never finishes cannot hold
    /// the orchestrator's exit). Returns whether it stopped in time; logs `http.stopped`.
    @discardableResult
    public func stop(timeout: Duration = .seconds(5), logger: Logger) -> Bool {
        guard let (group, task, loop) = running.withLock({ r in defer { r = nil }; return r }) else { return true }
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            await group.triggerGracefulShutdown()
            await task.value
            try? await loop.shutdownGracefully()
            done.signal()
        }
        let stopped = done.wait(timeout: .now() + .milliseconds(Int(timeout.milliseconds))) == .success
        if stopped { logger.info("http.stopped", metadata: ["note": "the HTTP server closed its port after the answers in flight"]) }
        else { logger.warning("http.stopped", metadata: ["note": "requests still open after \(formatDuration(timeout)); exiting without them"]) }
        return stopped
    }

    /// Every endpoint (`makeRouter`), behind the path canonicalisation.
    func makeResponder() -> CanonicalPathResponder<RouterResponder<DashboardContext>> {
        CanonicalPathResponder(inner: makeRouter().buildResponder())
    }

    /// The `http.listening` line both executables log once the server is up.
    public func announce(port: Int, to logger: Logger) {
        let http = configuration.http
        logger.info("http.listening", metadata: ["port": "\(port)", "url": "http://\(http.host.contains(":") ? "[\(http.host)]" : http.host):\(port)/",
                                                 "actions": "\(http.token == nil ? "off (no HTTP token)" : "on")"])
    }
}
