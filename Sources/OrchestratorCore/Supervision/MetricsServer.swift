import Foundation

/// The latest metrics text, written by the supervisor after each poll and read by the HTTP thread.
public final class MetricsBox: @unchecked Sendable {
    private let lock = NSLock()
    private var text = ""
    private var healthy = false

    public init() {}

    public func update(text: String, healthy: Bool) {
        lock.lock()
        self.text = text
        self.healthy = healthy
        lock.unlock()
    }

    public var snapshot: (text: String, healthy: Bool) {
        lock.lock()
        defer { lock.unlock() }
        return (text, healthy)
    }
}

/// A deliberately small HTTP/1.0 server on its own thread: `GET /metrics` (Prometheus text
/// format) and `GET /healthz` (200 while Redis is readable, 503 otherwise). No dependency, no
/// keep-alive; one short response per connection.
public final class MetricsServer: @unchecked Sendable {
    private let fd: Int32
    private let box: MetricsBox
    public let port: Int

    /// Binds `host:port` (port 0 picks a free one). Throws a `ConfigError` naming the flag.
    public init(listen: String, box: MetricsBox) throws(ConfigError) {
        self.box = box
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port) else {
            throw ConfigError(flag: "--metrics-listen", message: "expected HOST:PORT, got '\(listen)'")
        }
        var host = String(listen[..<colon])
        if host.isEmpty { host = "0.0.0.0" }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else {
            throw ConfigError(flag: "--metrics-listen", message: "'\(host)' is not an IPv4 address")
        }
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var one: Int32 = 1
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard s >= 0, bound == 0, Glibc.listen(s, 16) == 0 else {
            let message = String(cString: strerror(errno))
            if s >= 0 { close(s) }
            throw ConfigError(flag: "--metrics-listen", message: "cannot listen on \(listen): \(message)")
        }
        var actual = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &len) } }
        self.port = Int(UInt16(bigEndian: actual.sin_port))
        fd = s
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
        let (text, healthy) = box.snapshot
        let (status, body): (String, String)
        if parts.count < 2 || parts[0] != "GET" {
            (status, body) = ("405 Method Not Allowed", "GET only\n")
        } else if parts[1] == "/metrics" {
            (status, body) = ("200 OK", text)
        } else if parts[1] == "/healthz" {
            (status, body) = healthy ? ("200 OK", "ok\n") : ("503 Service Unavailable", "redis unreadable or draining\n")
        } else {
            (status, body) = ("404 Not Found", "try /metrics or /healthz\n")
        }
        let bytes = Array(body.utf8)
        let head = "HTTP/1.0 \(status)\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: \(bytes.count)\r\nConnection: close\r\n\r\n"
        for chunk in [Array(head.utf8), bytes] {
            var off = 0
            while off < chunk.count {
                let w = chunk.withUnsafeBytes { send(client, $0.baseAddress! + off, chunk.count - off, Int32(MSG_NOSIGNAL)) }
                if w <= 0 { return }
                off += w
            }
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

    public var text: String {
        families.map { "# HELP \($0.name) \($0.help)\n# TYPE \($0.name) \($0.type)\n" + $0.samples.map { $0 + "\n" }.joined() }.joined()
    }
}
