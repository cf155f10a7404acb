import Foundation
import HTTPTypes
import Hummingbird
import OrchestratorCore

/// The query parameters of a request (values percent-decoded by Hummingbird).
struct DashboardQuery {
    let parameters: [String: String]
    init(_ request: Request) {
        var out: [String: String] = [:]
        for (k, v) in request.uri.queryParameters { out[String(k)] = String(v) }  // later keys win
        parameters = out
    }
    subscript(_ name: String) -> String? { parameters[name] }

    /// `name` as an integer in `range` (`fallback` when absent), else 400 naming the parameter.
    func int(_ name: String, _ range: ClosedRange<Int>, fallback: Int, _ message: String) throws -> Int {
        guard let text = parameters[name] else { return fallback }
        guard let n = Int(text), range.contains(n) else { throw DashboardError(400, "\(name): \(message)") }
        return n
    }
}

/// What `/metrics`, `/livez` and `/readyz` answer, from the control loop's published snapshot.
enum HealthProbe: Sendable {
    case metrics, live, ready

    /// Status and body: a pure function of the snapshot (nil in `orchestrator dashboard`).
    func answer(_ snapshot: (text: String, healthy: Bool, updatedAt: ContinuousClock.Instant?)?, now: ContinuousClock.Instant,
                liveWindow: Duration) -> (status: Int, body: String) {
        guard let snapshot else { return self == .metrics ? (404, "/metrics is served by `orchestrator run` only\n") : (200, "ok\n") }
        switch self {
        case .metrics: return (200, snapshot.text)
        case .live:
            if let at = snapshot.updatedAt, now - at <= liveWindow { return (200, "ok\n") }
            return (503, "the control loop has not run for \(formatDuration(liveWindow))\n")
        case .ready: return snapshot.healthy ? (200, "ok\n") : (503, "redis unreadable or draining\n")
        }
    }
}

extension DashboardServer {
    static func page(_ body: String, _ type: String) -> Response {
        Response(status: .ok, headers: [.contentType: "\(type); charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    func health(_ probe: HealthProbe) -> Response {
        let box = configuration.metrics
        let (status, body) = probe.answer(box?.snapshot, now: ContinuousClock().now, liveWindow: configuration.liveWindow)
        let type = box == nil ? "text/plain; charset=utf-8" : "text/plain; version=0.0.4; charset=utf-8"
        return Response(status: .init(code: status), headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    func history(_ query: DashboardQuery) async throws -> [FieldsAnswer] {
        guard let queue = query["queue"], (try? validateQueueName(queue, flag: "queue")) != nil else {
            throw DashboardError(400, "queue: name a queue, e.g. /api/history?queue=conferencia&since=1h")
        }
        let shown = try await data.knownQueues().contains(queue)
        let known = shown ? true : try await data.hasHistory(queue: queue)
        guard known else { throw DashboardError(400, "queue: '\(queue)' is not shown here and has no history") }
        guard let since = WallClock.sinceMilliseconds(query["since"] ?? "1h", now: WallClock.nowMilliseconds()) else {
            throw DashboardError(400, "since: expected a duration like 1h or an ISO time like 2026-11-30T10:00")
        }
        let points: Int? = query["points"] == nil ? nil : try query.int("points", 10...5000, fallback: 0, "a number from 10 to 5000")
        return try await data.history(queue: queue, since: since, points: points)
    }

    func events(_ query: DashboardQuery) async throws -> [FieldsAnswer] {
        guard let since = WallClock.sinceMilliseconds(query["since"] ?? "1h", now: WallClock.nowMilliseconds()) else {
            throw DashboardError(400, "since: expected a duration like 10m or an ISO time like 2026-11-30T10:00")
        }
        let limit = Int(query["limit"] ?? "") ?? 100
        guard (1...1000).contains(limit) else { throw DashboardError(400, "limit: a number from 1 to 1000") }
        let typeList = (query["type"] ?? "").split(separator: ",").map(String.init)
        let unknown = EventLog.unknownTypes(typeList)
        guard unknown.isEmpty else {
            throw DashboardError(400, "type: no event has type \(unknown.map { "'\($0)'" }.joined(separator: ", ")) (types: \(EventLog.knownTypes.joined(separator: ", ")))")
        }
        return try await data.events(since: since, types: Set(typeList), limit: limit)
    }

    func dead(_ query: DashboardQuery) async throws -> DeadListAnswer {
        guard let queue = query["queue"], (try? validateQueueName(queue, flag: "queue")) != nil else {
            throw DashboardError(400, "queue: name a queue, e.g. /api/dead?queue=conferencia&limit=50")
        }
        let limit = try query.int("limit", 1...500, fallback: 50, "a number from 1 to 500")
        let offset = try query.int("offset", 0...Int.max, fallback: 0, "a number from 0")
        return try await data.dead(queue: queue, limit: limit, offset: offset)
    }
}

/// Every answer: errors as `{"error": …}` with their status, the security headers, HEAD with the
/// body's length and no body, and request bodies above 1 KB refused with 413.
struct AnswerMiddleware: RouterMiddleware {
    typealias Context = DashboardContext
    static let tooLarge = "request body too large (at most 1024 bytes)"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            if let length = request.headers[.contentLength].flatMap(Int.init), length > 1024 { throw DashboardError(413, Self.tooLarge) }
            var request = request
            if request.method == .post {
                do { _ = try await request.collectBody(upTo: 1024) } catch { throw DashboardError(413, Self.tooLarge) }
            }
            response = try await next(request, context)
        } catch {
            response = try Self.errorResponse(error, request: request, context: context)
        }
        return Self.finish(response, head: request.method == .head)
    }

    static func errorResponse(_ error: any Error, request: Request, context: Context) throws -> Response {
        let e: DashboardError
        switch error {
        case let d as DashboardError: e = d
        case let u as DashboardData.Unavailable: e = DashboardError(503, "redis unreachable: \(u.description)")
        case let h as HTTPError where h.status == .notFound: e = DashboardError(404, "no such page: try / (dashboard), /api/status, /metrics")
        case let h as HTTPError: e = DashboardError(h.status.code, h.body ?? h.status.reasonPhrase)
        default: e = DashboardError(502, "redis: \(error)")
        }
        var response = try ErrorAnswer(error: e.message).response(from: request, context: context)
        response.status = .init(code: e.status)
        if let allow = e.allow { response.headers[.allow] = allow }
        return response
    }

    static func finish(_ response: Response, head: Bool) -> Response {
        var response = response
        response.headers[.cacheControl] = "no-store"
        for (name, value) in [("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"), ("X-Frame-Options", "DENY")] {
            if let field = HTTPField.Name(name) { response.headers[field] = value }
        }
        response.headers[.contentSecurityPolicy] = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            + "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
        guard head else { return response }
        response.headers[.contentLength] = "\(response.body.contentLength ?? 0)"
        return Response(status: response.status, headers: response.headers, body: .init())
    }
}

/// Hands the router a path whose every segment is percent-decoded once and re-encoded in one
/// canonical form, so `/api/%73tatus` is `/api/status` and a queue name arrives in one segment
/// however the client escaped it (route parameters are decoded once with `PercentEncoding`).
struct CanonicalPathResponder<Inner: HTTPResponder>: HTTPResponder where Inner.Context == DashboardContext {
    let inner: Inner

    func respond(to request: Request, context: DashboardContext) async throws -> Response {
        let path = request.uri.path
        let canonical = path.split(separator: "/", omittingEmptySubsequences: false)
            .map { PercentEncoding.encode(PercentEncoding.decode($0)) }.joined(separator: "/")
        guard canonical != path else { return try await inner.respond(to: request, context: context) }
        var head = request.head
        head.path = canonical + (request.uri.query.map { "?" + $0 } ?? "")
        return try await inner.respond(to: Request(head: head, body: request.body), context: context)
    }
}
