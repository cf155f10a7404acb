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
        if let route = readOnly[path] {
            return method == "GET" || method == "HEAD" ? route : .refuse(code: 405, message: "\(path) takes GET or HEAD", allow: "GET, HEAD")
        }
        // /api/queues/<queue>/<action>
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 5, parts[0].isEmpty, parts[1] == "api", parts[2] == "queues", !parts[3].isEmpty, actions.contains(String(parts[4])) {
            guard method == "POST" else { return .refuse(code: 405, message: "\(path) takes POST", allow: "POST") }
            guard let token else {
                return .refuse(code: 403, message: "read-only: the orchestrator runs without an HTTP token (HTTP_TOKEN)", allow: nil)
            }
            guard let authorization, authorization.hasPrefix("Bearer "),
                  HTTPSettings.tokensMatch(String(authorization.dropFirst("Bearer ".count)), token) else {
                return .refuse(code: 401, message: "this action needs the token: Authorization: Bearer <token>", allow: nil)
            }
            return .action(queue: String(parts[3]), action: String(parts[4]))
        }
        return .refuse(code: 404, message: "no such page: try / (dashboard), /api/status, /metrics", allow: nil)
    }
}

/// Query string parameters (`a=1&b=x%20y`), percent-decoded; later keys win.
public func queryParameters(_ query: String) -> [String: String] {
    var out: [String: String] = [:]
    for pair in query.split(separator: "&") {
        let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        let decode = { (s: Substring) in (String(s).replacingOccurrences(of: "+", with: " ")).removingPercentEncodingSafe }
        out[decode(kv[0])] = kv.count > 1 ? decode(kv[1]) : ""
    }
    return out
}

extension String {
    /// Percent-decoded, or unchanged when the escapes are invalid.
    var removingPercentEncodingSafe: String {
        var bytes: [UInt8] = []
        var it = Array(utf8)[...]
        while let b = it.popFirst() {
            if b == UInt8(ascii: "%"), it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(v)
                it = it.dropFirst(2)
            } else {
                bytes.append(b)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
