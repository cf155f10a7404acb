import Foundation
import Hummingbird
import Logging
import OrchestratorCore

/// A refusal or a bad request, answered as `{"error": message}` with its status (and `Allow`).
struct DashboardError: Error {
    let status: Int
    let message: String
    var allow: String?
    init(_ status: Int, _ message: String, allow: String? = nil) { self.status = status; self.message = message; self.allow = allow }
}

/// The methods a path that does not take them answers with 405 and `Allow`.
private let otherMethods: [HTTPRequest.Method] = [.get, .head, .post, .put, .delete, .patch, .options]

extension DashboardServer {
    /// Every endpoint, on Hummingbird's `Router`: pages and health (GET, HEAD), the read API
    /// (GET, HEAD) and the actions under `/api/queues/` (POST, behind `AuthMiddleware`).
    func makeRouter() -> Router<DashboardContext> {
        let router = Router(context: DashboardContext.self)
        router.add(middleware: AnswerMiddleware())
        for path: RouterPath in ["/", "/index.html"] { read(router, path) { _, _ in Self.page(DashboardPage.html, "text/html") } }
        read(router, "/app.js") { _, _ in Self.page(DashboardPage.script, "text/javascript") }
        read(router, "/app.css") { _, _ in Self.page(DashboardPage.style, "text/css") }
        read(router, "/metrics") { _, _ in self.health(.metrics) }
        read(router, "/livez") { _, _ in self.health(.live) }
        for path: RouterPath in ["/readyz", "/healthz"] { read(router, path) { _, _ in self.health(.ready) } }
        read(router, "/api/status") { _, _ in RawJSON(try await self.data.statusJSON()) }
        read(router, "/api/alerts") { _, _ in try await self.data.alerts() }
        read(router, "/api/config") { _, _ in
            ConfigAnswer(mode: self.configuration.metrics == nil ? "dashboard" : "run", version: Version.string, prefix: self.configuration.prefix,
                         actions: self.configuration.http.token != nil)
        }
        read(router, "/api/history") { request, _ in try await self.history(DashboardQuery(request)) }
        read(router, "/api/events") { request, _ in try await self.events(DashboardQuery(request)) }
        read(router, "/api/dead") { request, context in
            try self.authorizeRead(request, context)
            return try await self.dead(DashboardQuery(request))
        }
        read(router, "/api/jobs/:id") { request, context in
            try self.authorizeRead(request, context)
            let id = try context.segment("id")
            guard let answer = try await self.data.job(id: id) else { throw DashboardError(404, "job '\(id)': not found in the queues shown here") }
            return answer
        }
        addActions(to: router)
        return router
    }

    /// Reads that carry job payloads, errors and results (`/api/dead`, `/api/jobs/ID`): behind the
    /// token when the server has one (a server without one listens on loopback only); 401 as for
    /// an action, logged by the same rate-limited `dashboard.refused` line.
    func authorizeRead(_ request: Request, _ context: DashboardContext) throws {
        guard let token = configuration.http.token, !AuthMiddleware.authorized(request, token: token) else { return }
        refusals.log(code: 401, method: request.method.rawValue, path: request.uri.path, client: context.client, to: logger)
        throw DashboardError(401, "dead letters and job records need the token: Authorization: Bearer <token>")
    }

    /// The POST endpoints under `/api/queues/<queue>/`, token-checked by `AuthMiddleware`.
    private func addActions(to router: Router<DashboardContext>) {
        let actions = router.group("/api/queues").add(middleware: AuthMiddleware(token: configuration.http.token, refusals: refusals, logger: logger))
        for queueAction in [DashboardData.Action.pause, .resume, .requeueDead] {
            let name = queueAction.rawValue
            action(router, actions, ":queue/\(name)") { _, context in
                let queue = try await self.watched(context)
                let answer = try await self.data.perform(queueAction, queue: queue, client: context.client)
                self.logger.warning("dashboard.action", metadata: ["queue": "\(queue)", "action": "\(name)", "client": "\(context.client)"])
                return answer
            }
        }
        let jobActions: [(RouterPath, QueueControl.JobAction, Bool)] = [
            (":queue/retry-now", .retryNow, false), (":queue/dead/requeue-all", .requeue, false), (":queue/dead/delete-all", .delete, false),
            (":queue/dead/:id/requeue", .requeue, true), (":queue/dead/:id/delete", .delete, true),
        ]
        for (path, job, named) in jobActions {
            action(router, actions, path) { _, context in
                let queue = try await self.watched(context)
                let id = named ? try context.segment("id") : nil
                guard let answer = try await self.data.perform(job, queue: queue, id: id, client: context.client) else {
                    throw DashboardError(404, "job '\(id ?? "")': not in the dead letters of '\(queue)'")
                }
                self.logger.warning("dashboard.action", metadata: ["queue": "\(queue)", "action": "\(job.rawValue)", "id": "\(id ?? "*")",
                                                                   "client": "\(context.client)"])
                return answer
            }
        }
    }

    /// The `:queue` segment, when it is one of the queues shown (else 404).
    private func watched(_ context: DashboardContext) async throws -> String {
        let queue = try context.segment("queue")
        guard try await data.knownQueues().contains(queue) else { throw DashboardError(404, "queue '\(queue)' is not watched here") }
        return queue
    }

    /// A GET (and HEAD) endpoint; the other methods answer 405.
    private func read(_ router: Router<DashboardContext>, _ path: RouterPath,
                      _ handler: @escaping @Sendable (Request, DashboardContext) async throws -> some ResponseGenerator) {
        router.get(path, use: handler)
        router.head(path, use: handler)
        refuseOthers(router, path, allow: "GET, HEAD", except: [.get, .head])
    }

    /// A POST endpoint in the token-checked group; the other methods answer 405 before any token check.
    private func action(_ router: Router<DashboardContext>, _ group: RouterGroup<DashboardContext>, _ path: RouterPath,
                        _ handler: @escaping @Sendable (Request, DashboardContext) async throws -> some ResponseGenerator) {
        group.post(path, use: handler)
        refuseOthers(router, RouterPath("/api/queues/\(path)"), allow: "POST", except: [.post])
    }

    private func refuseOthers(_ router: Router<DashboardContext>, _ path: RouterPath, allow: String, except: [HTTPRequest.Method]) {
        let takes = allow == "POST" ? "POST" : "GET or HEAD"
        for method in otherMethods where !except.contains(method) {
            router.on(path, method: method) { request, _ -> Response in throw DashboardError(405, "\(request.uri.path) takes \(takes)", allow: allow) }
        }
    }
}

extension DashboardContext {
    /// A path parameter, percent-decoded once (the page sends `encodeURIComponent(name)`).
    func segment(_ name: String) throws -> String {
        guard let raw = parameters.get(name), !raw.isEmpty else { throw DashboardError(404, "no such page: try / (dashboard), /api/status, /metrics") }
        return PercentEncoding.decode(raw)
    }
}

/// Checks the `Authorization: Bearer <token>` of an action: 403 when the server has no token
/// (read-only), 401 when it is missing or wrong (compared in constant time); each refusal goes to
/// the rate-limited `dashboard.refused` line, never with the token.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = DashboardContext
    let token: String?
    let refusals: RefusalLog
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token else {
            throw refuse(request, context, DashboardError(403, "read-only: the orchestrator runs without an HTTP token (HTTP_TOKEN)"))
        }
        guard Self.authorized(request, token: token) else {
            throw refuse(request, context, DashboardError(401, "this action needs the token: Authorization: Bearer <token>"))
        }
        return try await next(request, context)
    }

    /// `Authorization: Bearer <token>` with the server's token (compared in constant time).
    static func authorized(_ request: Request, token: String) -> Bool {
        guard let authorization = request.headers[.authorization], authorization.hasPrefix("Bearer ") else { return false }
        return HTTPSettings.tokensMatch(String(authorization.dropFirst("Bearer ".count)), token)
    }

    private func refuse(_ request: Request, _ context: Context, _ error: DashboardError) -> DashboardError {
        refusals.log(code: error.status, method: request.method.rawValue, path: request.uri.path, client: context.client, to: logger)
        return error
    }
}
