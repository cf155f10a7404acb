import Foundation

/// The latest metrics text, written by the supervisor after each poll and read by the HTTP thread.
public final class MetricsBox: @unchecked Sendable {
    private let lock = NSLock()
    private var text = ""
    private var healthy = false
    private var updatedAt: ContinuousClock.Instant?

    public init() {}

    public func update(text: String, healthy: Bool) {
        lock.lock()
        self.text = text
        self.healthy = healthy
        updatedAt = ContinuousClock().now
        lock.unlock()
    }

    /// The latest text, readiness, and when the control loop last published (nil: never).
    public var snapshot: (text: String, healthy: Bool, updatedAt: ContinuousClock.Instant?) {
        lock.lock()
        defer { lock.unlock() }
        return (text, healthy, updatedAt)
    }
}

/// A deliberately small HTTP/1.0 server on its own thread: `GET`/`HEAD` of `/metrics`
/// (Prometheus text format), `/livez` (200 while the control loop publishes), `/readyz` (200
/// while Redis is readable and the orchestrator is not draining) and `/healthz` (= `/readyz`).
/// No dependency, no keep-alive; one short response per connection; the query string is ignored.
public final class MetricsServer: @unchecked Sendable {
    private let fd: Int32
    private let box: MetricsBox
    /// `/livez` fails when the loop has not published for this long.
    private let liveWindow: Duration
    public let port: Int

    /// Binds `HOST:PORT` (`localhost:9464`, `[::1]:9464`, `0.0.0.0:9464`; an empty host is
    /// loopback; port 0 picks a free one). Throws a `ConfigError` naming `source`.
    public init(listen: String, source: String = "--metrics-listen", box: MetricsBox, liveWindow: Duration = .seconds(30)) throws(ConfigError) {
        self.box = box
        self.liveWindow = liveWindow
        let (host, port) = try Self.split(listen, source: source)
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw ConfigError(flag: source, message: "cannot resolve '\(host)' in '\(listen)': \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(list) }
        let s = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var one: Int32 = 1
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard s >= 0, bind(s, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0, Glibc.listen(s, 16) == 0 else {
            let message = String(cString: strerror(errno))
            if s >= 0 { close(s) }
            throw ConfigError(flag: source, message: "cannot listen on \(listen): \(message)")
        }
        var actual = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &actual) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &len) } }
        self.port = withUnsafePointer(to: &actual) { p -> Int in
            if Int32(p.pointee.ss_family) == AF_INET6 {
                return p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
            }
            return p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
        }
        fd = s
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

    public func start() {
        let thread = Thread { [self] in serve() }
        thread.name = "metrics"
        thread.start()
    }

    private func serve() {
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 { if errno == EINTR || errno == ECONNABORTED { continue }; return }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)  // no worker may inherit a scrape connection
            var timeout = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            respond(client)
            close(client)
        }
    }

    private func respond(_ client: Int32) {
        var buffer = [UInt8](repeating: 0, count: 2048)
        let n = recv(client, &buffer, buffer.count, 0)
        guard n > 0 else { return }
        let requestLine = String(decoding: buffer[0..<n], as: UTF8.self).split(separator: "\r\n").first ?? ""
        let parts = requestLine.split(separator: " ")
        let method = parts.first.map(String.init) ?? ""
        let target = parts.count > 1 ? String(parts[1]) : ""
        let (status, body) = Self.answer(method: method, target: target, snapshot: box.snapshot, now: ContinuousClock().now, liveWindow: liveWindow)
        let bytes = method == "HEAD" ? [] : Array(body.utf8)
        let head = "HTTP/1.0 \(status)\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n"
        for chunk in [Array(head.utf8), bytes] {
            var off = 0
            while off < chunk.count {
                let w = chunk.withUnsafeBytes { send(client, $0.baseAddress! + off, chunk.count - off, Int32(MSG_NOSIGNAL)) }
                if w <= 0 { return }
                off += w
            }
        }
    }

    /// The response to one request, as a pure function of the published snapshot.
    /// `target` is the request target; its query string is ignored.
    public static func answer(method: String, target: String, snapshot: (text: String, healthy: Bool, updatedAt: ContinuousClock.Instant?),
                              now: ContinuousClock.Instant, liveWindow: Duration) -> (status: String, body: String) {
        guard method == "GET" || method == "HEAD" else { return ("405 Method Not Allowed", "GET or HEAD only\n") }
        switch target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? "" {
        case "/metrics":
            return ("200 OK", snapshot.text)
        case "/livez":
            if let at = snapshot.updatedAt, now - at <= liveWindow { return ("200 OK", "ok\n") }
            return ("503 Service Unavailable", "the control loop has not run for \(formatDuration(liveWindow))\n")
        case "/readyz", "/healthz":
            return snapshot.healthy ? ("200 OK", "ok\n") : ("503 Service Unavailable", "redis unreadable or draining\n")
        default:
            return ("404 Not Found", "try /metrics, /livez or /readyz\n")
        }
    }
}

/// Prometheus text exposition, built from the supervisor's state after each poll.
public struct MetricsText {
    private var families: [(name: String, help: String, type: String, samples: [String])] = []

    public init() {}

    public mutating func add(_ name: String, _ type: String, _ help: String, _ samples: [([(String, String)], Double)]) {
        let lines = samples.map { labels, value -> String in
            let l = labels.map { "\($0.0)=\"\($0.1.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\""))\"" }
            let v = value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
            return name + (l.isEmpty ? "" : "{" + l.joined(separator: ",") + "}") + " " + v
        }
        families.append((name, help, type, lines))
    }

    /// A histogram family: `<name>_bucket{…,le}`, `<name>_sum`, `<name>_count` per label set.
    public mutating func addHistogram(_ name: String, _ help: String,
                                      _ series: [(labels: [(String, String)], buckets: [(String, Int)], count: Int, sum: Double)]) {
        var lines: [String] = []
        for s in series {
            let base = s.labels.map { "\($0.0)=\"\($0.1)\"" }
            for (le, n) in s.buckets { lines.append("\(name)_bucket{" + (base + ["le=\"\(le)\""]).joined(separator: ",") + "} \(n)") }
            let l = base.isEmpty ? "" : "{" + base.joined(separator: ",") + "}"
            lines.append("\(name)_sum\(l) \(s.sum)")
            lines.append("\(name)_count\(l) \(s.count)")
        }
        families.append((name, help, "histogram", lines))
    }

    public var text: String {
        families.map { "# HELP \($0.name) \($0.help)\n# TYPE \($0.name) \($0.type)\n" + $0.samples.map { $0 + "\n" }.joined() }.joined()
    }
}
