import Foundation

/// Where and how to reach Redis: parsed from `redis://[user[:password]@]host:port/db`.
/// The password is kept out of `description` so the value can be logged.
public struct RedisEndpoint: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var db: Int
    public var user: String?
    public var password: String?
    /// When set, the master's host and port are asked of these sentinels at every (re)connect,
    /// and `host`/`port` are unused.
    public var sentinel: SentinelSettings?

    public init(host: String = "127.0.0.1", port: Int = 6379, db: Int = 0, user: String? = nil, password: String? = nil,
                sentinel: SentinelSettings? = nil) {
        self.host = host; self.port = port; self.db = db; self.user = user; self.password = password; self.sentinel = sentinel
    }

    /// Parses a URL; `REDIS_PASSWORD` (passed as `fallbackPassword`) fills a missing password.
    public static func parse(_ url: String, fallbackPassword: String? = nil) throws(RedisError) -> RedisEndpoint {
        let scheme = "redis://"
        guard url.hasPrefix(scheme) else {
            let shown = url.split(separator: ":").first.map(String.init) ?? ""
            if url.hasPrefix("rediss://") {
                throw .invalidURL("rediss:// (TLS) is not supported by hiredis 0.14; run a local stunnel and use redis://")
            }
            throw .invalidURL("expected redis://[user[:password]@]host:port/db, got scheme '\(shown)'")
        }
        var rest = Substring(url.dropFirst(scheme.count))
        var endpoint = RedisEndpoint()
        if let at = rest.lastIndex(of: "@") {
            endpoint.setCredentials(rest[..<at])
            rest = rest[rest.index(after: at)...]
        }
        var hostPort = rest
        if let slash = rest.firstIndex(of: "/") {
            hostPort = rest[..<slash]
            let dbText = rest[rest.index(after: slash)...]
            if !dbText.isEmpty {
                guard let db = Int(dbText), db >= 0, db <= 15_999 else {
                    throw .invalidURL("database must be a number, got '\(dbText)'")
                }
                endpoint.db = db
            }
        }
        try endpoint.setAddress(hostPort)
        if endpoint.password == nil, let pw = fallbackPassword, !pw.isEmpty { endpoint.password = pw }
        return endpoint
    }

    /// `user:password` or `user` (percent-decoded) from the part of a URL before `@`.
    private mutating func setCredentials(_ auth: Substring) {
        if let colon = auth.firstIndex(of: ":") {
            let user = String(auth[..<colon])
            self.user = user.isEmpty ? nil : PercentEncoding.decode(user)
            password = PercentEncoding.decode(String(auth[auth.index(after: colon)...]))
        } else if !auth.isEmpty {
            user = PercentEncoding.decode(String(auth))
        }
    }

    /// `host:port`, `host`, `[v6]:port` or `[v6]`.
    private mutating func setAddress(_ hostPort: Substring) throws(RedisError) {
        if hostPort.isEmpty { throw .invalidURL("missing host") }
        if let colon = hostPort.lastIndex(of: ":"), !hostPort.hasSuffix("]") {
            let portText = hostPort[hostPort.index(after: colon)...]
            guard let port = Int(portText), (1...65535).contains(port) else {
                throw .invalidURL("port must be 1-65535, got '\(portText)'")
            }
            host = String(hostPort[..<colon])
            self.port = port
        } else {
            host = String(hostPort)
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.isEmpty { throw .invalidURL("missing host") }
    }

    /// The URL with the password replaced by `***`.
    public var description: String {
        var auth = ""
        if let user { auth = user }
        if password != nil { auth += ":***" }
        if !auth.isEmpty { auth += "@" }
        if let sentinel { return "redis-sentinel://\(auth)\(sentinel.addressList)/\(sentinel.masterName)/\(db)" }
        return "redis://\(auth)\(host):\(port)/\(db)"
    }

    /// The URL with the password removed, for handing to a child process (the password travels
    /// in `REDIS_PASSWORD`, never on a command line).
    public var urlWithoutPassword: String {
        let auth = user.map { "\(PercentEncoding.encode($0))@" } ?? ""
        let h = host.contains(":") ? "[\(host)]" : host
        return "redis://\(auth)\(h):\(port)/\(db)"
    }
}
