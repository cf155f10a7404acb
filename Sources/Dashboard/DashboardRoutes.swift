import OrchestratorCore

/// Which endpoint a request names, and whether it may use it: a pure function of the method, the
/// path and the token header, so every 401/403/404/405 is unit-tested without a socket.
public enum DashboardRoute: Equatable, Sendable {
    case page(String)  // "/", "/app.js", "/app.css"
    case metrics, livez, readyz
    case status, history, events, alerts, config, dead
    /// `GET /api/jobs/<id>`.
    case job(String)
    case action(queue: String, action: String)
    /// `POST /api/queues/<queue>/dead/<id>/requeue|delete` (id nil: `…/dead/requeue-all|delete-all`)
    /// and `POST /api/queues/<queue>/retry-now` (action `retry-now`, id nil).
    case jobAction(queue: String, id: String?, action: String)
    /// An answer without a handler: status line code and message.
    case refuse(code: Int, message: String, allow: String?)

    /// GET/HEAD endpoints; actions are POST only.
    static let readOnly: [String: DashboardRoute] = [
        "/": .page("/"), "/index.html": .page("/"), "/app.js": .page("/app.js"), "/app.css": .page("/app.css"),
        "/metrics": .metrics, "/livez": .livez, "/readyz": .readyz, "/healthz": .readyz,
        "/api/status": .status, "/api/history": .history, "/api/events": .events, "/api/alerts": .alerts, "/api/config": .config,
        "/api/dead": .dead,
    ]
    static let actions: Set<String> = ["pause", "resume", "requeue-dead"]

    /// - Parameters:
    ///   - authorization: the `Authorization` header (`Bearer <token>`), nil when absent.
    ///   - token: the server's token; nil: read-only, actions refused with 403.
    public static func resolve(method: String, path: String, authorization: String?, token: String?) -> DashboardRoute {
        // Each segment is decoded once, here: the page sends `encodeURIComponent(queue)`.
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).map { PercentEncoding.decode($0) }
        if let route = readOnly[parts.joined(separator: "/")] ?? jobRoute(parts) {
            return method == "GET" || method == "HEAD" ? route : .refuse(code: 405, message: "\(path) takes GET or HEAD", allow: "GET, HEAD")
        }
        guard let action = actionRoute(parts) else {
            return .refuse(code: 404, message: "no such page: try / (dashboard), /api/status, /metrics", allow: nil)
        }
        guard method == "POST" else { return .refuse(code: 405, message: "\(path) takes POST", allow: "POST") }
        guard let token else {
            return .refuse(code: 403, message: "read-only: the orchestrator runs without an HTTP token (HTTP_TOKEN)", allow: nil)
        }
        guard let authorization, authorization.hasPrefix("Bearer "),
              HTTPSettings.tokensMatch(String(authorization.dropFirst("Bearer ".count)), token) else {
            return .refuse(code: 401, message: "this action needs the token: Authorization: Bearer <token>", allow: nil)
        }
        return action
    }

    /// `/api/jobs/<id>`.
    static func jobRoute(_ parts: [String]) -> DashboardRoute? {
        guard parts.count == 4, parts[0].isEmpty, parts[1] == "api", parts[2] == "jobs", !parts[3].isEmpty else { return nil }
        return .job(parts[3])
    }

    /// The POST endpoints under `/api/queues/<queue>/`, before any check of method or token.
    static func actionRoute(_ parts: [String]) -> DashboardRoute? {
        guard parts.count >= 5, parts[0].isEmpty, parts[1] == "api", parts[2] == "queues", !parts[3].isEmpty else { return nil }
        let queue = parts[3]
        switch parts.count {
        case 5 where actions.contains(parts[4]): return .action(queue: queue, action: parts[4])
        case 5 where parts[4] == "retry-now": return .jobAction(queue: queue, id: nil, action: "retry-now")
        case 6 where parts[4] == "dead" && (parts[5] == "requeue-all" || parts[5] == "delete-all"):
            return .jobAction(queue: queue, id: nil, action: String(parts[5].dropLast("-all".count)))
        case 7 where parts[4] == "dead" && !parts[5].isEmpty && (parts[6] == "requeue" || parts[6] == "delete"):
            return .jobAction(queue: queue, id: parts[5], action: parts[6])
        default: return nil
        }
    }
}

/// Query string parameters (`a=1&b=x%20y`), percent-decoded; later keys win.
public func queryParameters(_ query: String) -> [String: String] {
    var out: [String: String] = [:]
    for pair in query.split(separator: "&") {
        let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        let decode = { (s: Substring) in PercentEncoding.decode(s.replacingOccurrences(of: "+", with: " ")) }
        out[decode(kv[0])] = kv.count > 1 ? decode(kv[1]) : ""
    }
    return out
}
