import OrchestratorCore

/// Which endpoint a request names, and whether it may use it: a pure function of the method, the
/// path and the token header, so every 401/403/404/405 is unit-tested without a socket.
public enum DashboardRoute: Equatable, Sendable {
    case page(String)  // "/", "/app.js", "/app.css"
    case metrics, livez, readyz
    case status, history, events, alerts, config
    case action(queue: String, action: String)
    /// An answer without a handler: status line code and message.
    case refuse(code: Int, message: String, allow: String?)

    /// GET/HEAD endpoints; actions are POST only.
    static let readOnly: [String: DashboardRoute] = [
        "/": .page("/"), "/index.html": .page("/"), "/app.js": .page("/app.js"), "/app.css": .page("/app.css"),
        "/metrics": .metrics, "/livez": .livez, "/readyz": .readyz, "/healthz": .readyz,
        "/api/status": .status, "/api/history": .history, "/api/events": .events, "/api/alerts": .alerts, "/api/config": .config,
    ]
    static let actions: Set<String> = ["pause", "resume", "requeue-dead"]

    /// - Parameters:
    ///   - authorization: the `Authorization` header (`Bearer <token>`), nil when absent.
    ///   - token: the server's token; nil: read-only, actions refused with 403.
    public static func resolve(method: String, path: String, authorization: String?, token: String?) -> DashboardRoute {
        // Each segment is decoded once, here: the page sends `encodeURIComponent(queue)`.
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).map { PercentEncoding.decode($0) }
        if let route = readOnly[parts.joined(separator: "/")] {
            return method == "GET" || method == "HEAD" ? route : .refuse(code: 405, message: "\(path) takes GET or HEAD", allow: "GET, HEAD")
        }
        // /api/queues/<queue>/<action>
        if parts.count == 5, parts[0].isEmpty, parts[1] == "api", parts[2] == "queues", !parts[3].isEmpty, actions.contains(parts[4]) {
            guard method == "POST" else { return .refuse(code: 405, message: "\(path) takes POST", allow: "POST") }
            guard let token else {
                return .refuse(code: 403, message: "read-only: the orchestrator runs without an HTTP token (HTTP_TOKEN)", allow: nil)
            }
            guard let authorization, authorization.hasPrefix("Bearer "),
                  HTTPSettings.tokensMatch(String(authorization.dropFirst("Bearer ".count)), token) else {
                return .refuse(code: 401, message: "this action needs the token: Authorization: Bearer <token>", allow: nil)
            }
            return .action(queue: parts[3], action: parts[4])
        }
        return .refuse(code: 404, message: "no such page: try / (dashboard), /api/status, /metrics", allow: nil)
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
