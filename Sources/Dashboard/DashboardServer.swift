import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTPTypes
import NIOPosix
import OrchestratorCore

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
        let timeout = TimeAmount.milliseconds(configuration.requestTimeout.milliseconds)
        let app = Application(
            responder: CallbackResponder<DashboardContext> { [self] request, context in await respond(request, client: context.client) },
            server: .http1(configuration: .init(
                additionalChannelHandlers: [RequestDeadline(timeout: timeout)], idleTimeout: .seconds(30),
                httpDecoderConfiguration: .init(maxHeaderFieldSize: 8192, maxHeaderListSize: 16_384, maxHeaderFieldCount: 64))),
            configuration: .init(address: .hostname(http.host, port: http.port), serverName: "rpa-orchestrator"),
            onServerRunning: { channel in bound.set(.success(channel.localAddress?.port ?? 0)) },
            eventLoopGroupProvider: .shared(MultiThreadedEventLoopGroup(numberOfThreads: 1)),
            logger: logger)
        Task.detached {
            do { try await app.run() } catch { bound.set(.failure(error)) }
        }
        switch bound.wait(timeout: 10) {
        case .success(let port): return port
        case .failure(let error): throw ConfigError(flag: http.source, message: "cannot listen on \(http.host):\(http.port): \(error)")
        case nil: throw ConfigError(flag: http.source, message: "cannot listen on \(http.host):\(http.port): no answer within 10 s")
        }
    }

    /// The `http.listening` line both executables log once the server is up.
    public func announce(port: Int, to logger: Logger) {
        let http = configuration.http
        logger.info("http.listening", metadata: ["port": "\(port)", "url": "http://\(http.host.contains(":") ? "[\(http.host)]" : http.host):\(port)/",
                                                 "actions": "\(http.token == nil ? "off (no HTTP token)" : "on")"])
    }

    // MARK: - Requests

    func respond(_ request: Request, client: String) async -> Response {
        let method = request.method.rawValue
        let head = method == "HEAD"
        if let length = request.headers[.contentLength].flatMap(Int.init), length > 1024 {
            return reply(413, json: error("request body too large (at most 1024 bytes)"), head: head)
        }
        if method == "POST" {
            do { _ = try await request.body.collect(upTo: 1024) } catch {
                return reply(413, json: self.error("request body too large (at most 1024 bytes)"), head: head)
            }
        }
        let route = DashboardRoute.resolve(method: method, path: request.uri.path, authorization: request.headers[.authorization],
                                           token: configuration.http.token)
        let query = queryParameters(request.uri.query ?? "")
        switch route {
        case .refuse(let code, let message, let allow):
            if code == 401 || code == 403 { refusals.log(code: code, method: method, path: request.uri.path, client: client, to: logger) }
            var r = reply(code, json: error(message), head: head)
            if let allow { r.headers[.allow] = allow }
            return r
        case .page(let path):
            return page(path, head: head)
        case .metrics, .livez, .readyz:
            return health(route, head: head)
        case .config:
            var w = JSONObjectWriter()
            w.string("mode", configuration.metrics == nil ? "dashboard" : "run")
            w.string("version", Version.string)
            w.string("prefix", configuration.prefix)
            w.bool("actions", configuration.http.token != nil)
            return reply(200, json: w.text, head: head)
        case .status, .alerts, .history, .events, .action, .dead, .job, .jobAction:
            return await api(route, query: query, head: head, client: client)
        }
    }

    private func api(_ route: DashboardRoute, query: [String: String], head: Bool, client: String) async -> Response {
        do {
            switch route {
            case .status:
                return reply(200, json: try await data.statusJSON(), head: head)
            case .alerts:
                return reply(200, json: try await data.alertsJSON(), head: head)
            case .history:
                guard let queue = query["queue"], (try? validateQueueName(queue, flag: "queue")) != nil else {
                    return reply(400, json: error("queue: name a queue, e.g. /api/history?queue=conferencia&since=1h"), head: head)
                }
                let shown = try await data.knownQueues().contains(queue)
                let known = shown ? true : try await data.hasHistory(queue: queue)
                guard known else {
                    return reply(400, json: error("queue: '\(queue)' is not shown here and has no history"), head: head)
                }
                guard let since = WallClock.sinceMilliseconds(query["since"] ?? "1h", now: WallClock.nowMilliseconds()) else {
                    return reply(400, json: error("since: expected a duration like 1h or an ISO time like 2026-11-30T10:00"), head: head)
                }
                var points: Int?
                if let p = query["points"] {
                    guard let n = Int(p), (10...5000).contains(n) else { return reply(400, json: error("points: a number from 10 to 5000"), head: head) }
                    points = n
                }
                return reply(200, json: try await data.historyJSON(queue: queue, since: since, points: points), head: head)
            case .events:
                guard let since = WallClock.sinceMilliseconds(query["since"] ?? "1h", now: WallClock.nowMilliseconds()) else {
                    return reply(400, json: error("since: expected a duration like 10m or an ISO time like 2026-11-30T10:00"), head: head)
                }
                let limit = query["limit"].flatMap(Int.init) ?? 100
                guard (1...1000).contains(limit) else { return reply(400, json: error("limit: a number from 1 to 1000"), head: head) }
                let typeList = (query["type"] ?? "").split(separator: ",").map(String.init)
                let unknown = EventLog.unknownTypes(typeList)
                guard unknown.isEmpty else {
                    return reply(400, json: error("type: no event has type \(unknown.map { "'\($0)'" }.joined(separator: ", ")) (types: \(EventLog.knownTypes.joined(separator: ", ")))"),
                                 head: head)
                }
                let types = Set(typeList)
                return reply(200, json: try await data.eventsJSON(since: since, types: types, limit: limit), head: head)
            case .action(let queue, let name):
                guard try await data.knownQueues().contains(queue) else {
                    return reply(404, json: error("queue '\(queue)' is not watched here"), head: head)
                }
                let action = DashboardData.Action(rawValue: name)!
                let answer = try await data.perform(action, queue: queue)
                logger.warning("dashboard.action", metadata: ["queue": "\(queue)", "action": "\(name)", "client": "\(client)"])
                return reply(200, json: answer, head: head)
            case .dead:
                guard let queue = query["queue"], (try? validateQueueName(queue, flag: "queue")) != nil else {
                    return reply(400, json: error("queue: name a queue, e.g. /api/dead?queue=conferencia&limit=50"), head: head)
                }
                guard let limit = Int(query["limit"] ?? "50"), (1...500).contains(limit) else {
                    return reply(400, json: error("limit: a number from 1 to 500"), head: head)
                }
                guard let offset = Int(query["offset"] ?? "0"), offset >= 0 else {
                    return reply(400, json: error("offset: a number from 0"), head: head)
                }
                return reply(200, json: try await data.deadJSON(queue: queue, limit: limit, offset: offset), head: head)
            case .job(let id):
                guard let answer = try await data.jobJSON(id: id) else {
                    return reply(404, json: error("job '\(id)': not found in the queues shown here"), head: head)
                }
                return reply(200, json: answer, head: head)
            case .jobAction(let queue, let id, let name):
                guard try await data.knownQueues().contains(queue) else {
                    return reply(404, json: error("queue '\(queue)' is not watched here"), head: head)
                }
                guard let action = QueueControl.JobAction(rawValue: name),
                      let answer = try await data.perform(action, queue: queue, id: id, client: client) else {
                    return reply(404, json: error("job '\(id ?? "")': not in the dead letters of '\(queue)'"), head: head)
                }
                logger.warning("dashboard.action", metadata: ["queue": "\(queue)", "action": "\(name)", "id": "\(id ?? "*")", "client": "\(client)"])
                return reply(200, json: answer, head: head)
            default:
                return reply(404, json: error("not found"), head: head)
            }
        } catch let e as DashboardData.Unavailable {
            return reply(503, json: error("redis unreachable: \(e.description)"), head: head)
        } catch {
            return reply(502, json: self.error("redis: \(error)"), head: head)
        }
    }

    private func health(_ route: DashboardRoute, head: Bool) -> Response {
        guard let box = configuration.metrics else {
            if route == .metrics { return reply(404, text: "/metrics is served by `orchestrator run` only\n", head: head) }
            return reply(200, text: "ok\n", head: head)
        }
        let target = route == .metrics ? "/metrics" : route == .livez ? "/livez" : "/readyz"
        let (status, body) = MetricsServer.answer(method: "GET", target: target, snapshot: box.snapshot, now: ContinuousClock().now,
                                                  liveWindow: configuration.liveWindow)
        let code = Int(status.prefix(3)) ?? 500
        return reply(code, body: body, type: "text/plain; version=0.0.4; charset=utf-8", head: head)
    }

    private func page(_ path: String, head: Bool) -> Response {
        switch path {
        case "/app.js": return reply(200, body: DashboardPage.script, type: "text/javascript; charset=utf-8", head: head)
        case "/app.css": return reply(200, body: DashboardPage.style, type: "text/css; charset=utf-8", head: head)
        default: return reply(200, body: DashboardPage.html, type: "text/html; charset=utf-8", head: head)
        }
    }

    // MARK: - Responses

    func error(_ message: String) -> String {
        var w = JSONObjectWriter()
        w.string("error", message)
        return w.text
    }

    func reply(_ code: Int, json: String, head: Bool) -> Response {
        reply(code, body: json, type: "application/json; charset=utf-8", head: head)
    }

    func reply(_ code: Int, text: String, head: Bool) -> Response {
        reply(code, body: text, type: "text/plain; charset=utf-8", head: head)
    }

    func reply(_ code: Int, body: String, type: String, head: Bool) -> Response {
        var headers: HTTPFields = [
            .contentType: type, .cacheControl: "no-store", .init("X-Content-Type-Options")!: "nosniff",
            .init("Referrer-Policy")!: "no-referrer", .init("X-Frame-Options")!: "DENY",
            .contentSecurityPolicy: "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ]
        if head { headers[.contentLength] = "\(body.utf8.count)" }
        let buffer = ByteBuffer(string: head ? "" : body)
        return Response(status: .init(code: code), headers: headers, body: .init(byteBuffer: buffer))
    }
}

/// Logs refused actions (401, 403) as `dashboard.refused` with the client and the path, never the
/// token: at most one line per 10 s, carrying how many were held back before it.
final class RefusalLog: @unchecked Sendable {
    private let lock = NSLock()
    private var limit = LogRateLimit(interval: .seconds(10))

    func log(code: Int, method: String, path: String, client: String, to logger: Logger) {
        lock.lock()
        let held = limit.admit(now: ContinuousClock().now)
        lock.unlock()
        guard let held else { return }
        var metadata: Logger.Metadata = ["status": "\(code)", "client": "\(client)", "method": "\(method)", "path": "\(path.prefix(200))"]
        if held > 0 { metadata["held_back"] = "\(held)" }
        logger.warning("dashboard.refused", metadata: metadata)
    }
}

/// The bound port (or the failure), handed from the server task to `start()`.
final class BindResult: @unchecked Sendable {
    private let lock = NSLock()
    private let ready = DispatchSemaphore(value: 0)
    private var result: Result<Int, any Error>?
    func set(_ r: Result<Int, any Error>) {
        lock.lock()
        let first = result == nil
        if first { result = r }
        lock.unlock()
        if first { ready.signal() }
    }
    func wait(timeout: Double) -> Result<Int, any Error>? {
        guard ready.wait(timeout: .now() + timeout) == .success else { return nil }
        lock.lock()
        defer { lock.unlock() }
        return result
    }
}

/// Closes a connection whose request is not complete within `timeout` of the connection opening
/// or of the previous response (a client trickling its headers or body is cut off).
final class RequestDeadline: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let timeout: TimeAmount
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount) { self.timeout = timeout }

    func handlerAdded(context: ChannelHandlerContext) { arm(context) }
    func handlerRemoved(context: ChannelHandlerContext) { timer?.cancel() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) {
            timer?.cancel()
            timer = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { arm(context) }
        context.write(data, promise: promise)
    }

    private func arm(_ context: ChannelHandlerContext) {
        timer?.cancel()
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }
}
