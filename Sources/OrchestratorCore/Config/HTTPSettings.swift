import Foundation

/// Where the HTTP server listens and the token its actions need (`--http-listen`, the old
/// `--metrics-listen`, `--http-token` / `HTTP_TOKEN` / `--http-token-file`).
public struct HTTPSettings: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// The flag (and variable) the address came from, for messages.
    public var source: String
    /// nil: read-only (no actions).
    public var token: String?
    /// The token came from the command line (visible in ps): warn.
    public var tokenInArgv = false

    /// nil when no address is given (the server is off).
    public static func resolve(_ v: OptionValues, _ r: OptionResolver, required: Bool = false) throws(ConfigError) -> HTTPSettings? {
        if let both = r.raw(v, .httpListen), let old = r.raw(v, .metricsListen) {
            throw ConfigError(flag: both.source, message: "given together with \(old.source) (its old name): give one")
        }
        let given = r.raw(v, .httpListen) ?? r.raw(v, .metricsListen)
        guard let (listen, source) = given, !listen.trimmingSpaces.isEmpty else {
            if required { throw ConfigError(flag: "--http-listen", message: "an address is required, e.g. 127.0.0.1:9464") }
            return nil
        }
        let (host, port) = try split(listen.trimmingSpaces, source: source)
        var settings = HTTPSettings(host: host, port: port, source: source, token: nil)
        let direct = r.raw(v, .httpToken), file = r.raw(v, .httpTokenFile)
        if direct != nil && file != nil {
            throw ConfigError(flag: "--http-token-file", message: "give the token one way: --http-token/HTTP_TOKEN or --http-token-file")
        }
        if let (path, fileSource) = file {
            try checkPrivate(path, source: fileSource)
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigError(flag: fileSource, message: "cannot read '\(path)': \(String(cString: strerror(errno)))")
            }
            settings.token = try checkedToken(String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? ""), source: fileSource)
        } else if let (token, tokenSource) = direct {
            settings.token = try checkedToken(token, source: tokenSource)
            settings.tokenInArgv = v[.httpToken] != nil
        }
        switch (settings.token, reach(host)) {
        case (_, .unresolvable(let why)):
            throw ConfigError(flag: source, message: "cannot resolve host '\(host)': \(why)")
        case (nil, .otherMachines):
            throw ConfigError(flag: source, message: "'\(host)' is reachable from other machines; set HTTP_TOKEN (or --http-token-file) so actions need a token, or listen on 127.0.0.1")
        default:
            break
        }
        return settings
    }

    /// Refuses a token file that group or others may access (as ssh refuses such a key): the
    /// message names the file and its mode, never the content.
    static func checkPrivate(_ path: String, source: String) throws(ConfigError) {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw ConfigError(flag: source, message: "cannot read '\(path)': \(String(cString: strerror(errno)))")
        }
        let mode = st.st_mode & 0o777
        if mode & 0o077 != 0 {
            throw ConfigError(flag: source, message: "'\(path)' has mode \(String(format: "%04o", mode)): group or others can access it; chmod 600 '\(path)'")
        }
    }

    static func checkedToken(_ raw: String, source: String) throws(ConfigError) -> String {
        let token = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        guard token.count >= 16, token.unicodeScalars.allSatisfy({ $0.value > 32 && $0.value < 127 }) else {
            throw ConfigError(flag: source, message: "the token must be at least 16 printable ASCII characters without spaces (e.g. openssl rand -hex 24)")
        }
        return token
    }

    /// `host:port`, `[v6]:port` or `:port` (loopback) → (host, port).
    public static func split(_ listen: String, source: String) throws(ConfigError) -> (String, Int) {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port) else {
            throw ConfigError(flag: source, message: "expected HOST:PORT with a port from 0 to 65535, got '\(listen)'")
        }
        var host = String(listen[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "127.0.0.1" : host, port)
    }

    /// Who can reach an address: this machine only, other machines, or nobody (the name does not resolve).
    public enum Reach: Equatable, Sendable { case loopback, otherMachines, unresolvable(String) }

    /// True when every address `host` resolves to is a loopback one (127.0.0.0/8, ::1).
    public static func isLoopback(_ host: String) -> Bool { reach(host) == .loopback }

    /// `.loopback` when every address `host` resolves to is a loopback one (127.0.0.0/8, ::1),
    /// `.unresolvable` with the resolver's reason when it resolves to none.
    public static func reach(_ host: String) -> Reach {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, "0", &hints, &list)
        guard rc == 0, let first = list else { return .unresolvable(String(cString: gai_strerror(rc))) }
        defer { freeaddrinfo(list) }
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let a = node {
            switch a.pointee.ai_family {
            case AF_INET:
                let ip = a.pointee.ai_addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
                if ip >> 24 != 127 { return .otherMachines }
            case AF_INET6:
                let bytes = a.pointee.ai_addr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                    withUnsafeBytes(of: p.pointee.sin6_addr) { Array($0) }
                }
                if bytes != [UInt8](repeating: 0, count: 15) + [1] { return .otherMachines }
            default:
                return .otherMachines
            }
            node = a.pointee.ai_next
        }
        return .loopback
    }

    /// Compares two tokens in time that does not depend on where they differ.
    public static func tokensMatch(_ given: String, _ expected: String) -> Bool {
        let a = Array(given.utf8), b = Array(expected.utf8)
        var diff = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<b.count { diff |= (i < a.count ? a[i] : 0) ^ b[i] }
        return diff == 0
    }
}
