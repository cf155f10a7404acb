import Foundation
import OrchestratorCore
import Testing

/// The private redis-server started by `scripts/test` (REDIS_PORT). Tests skip without it.
public enum TestEnv {
    public static let redisPort: Int? = ProcessInfo.processInfo.environment["REDIS_PORT"].flatMap(Int.init)
    public static let db = 9
    public static var redisURL: String { "redis://127.0.0.1:\(redisPort ?? 6379)/\(db)" }
    public static var endpoint: RedisEndpoint { RedisEndpoint(host: "127.0.0.1", port: redisPort ?? 6379, db: db) }

    /// Directory holding the built `worker` and `orchestrator`.
    public static let binDir: String = {
        if let dir = ProcessInfo.processInfo.environment["RPA_BIN_DIR"] { return dir }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var url = URL(fileURLWithPath: exe).deletingLastPathComponent()
        while url.path != "/" {
            if FileManager.default.isExecutableFile(atPath: url.appendingPathComponent("worker").path) { return url.path }
            url = url.deletingLastPathComponent()
        }
        return ".build/debug"
    }()
    public static var worker: String { binDir + "/worker" }
    public static var orchestrator: String { binDir + "/orchestrator" }

    /// A fresh key prefix per test, so tests run in parallel on one database.
    public static func uniquePrefix(_ hint: String = "t") -> String {
        "\(hint)\(UInt32.random(in: 0...UInt32.max)):"
    }

    public static func connect() throws -> RedisConnection {
        let c = RedisConnection(endpoint: endpoint)
        try c.connect()
        return c
    }

    /// A scratch directory for one test.
    public static func scratch(_ name: String) -> String {
        let base = ProcessInfo.processInfo.environment["RPA_TEST_TMP"] ?? NSTemporaryDirectory()
        let dir = "\(base)/\(name)-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }
}

extension Trait where Self == ConditionTrait {
    /// Skips with a clear message when no test redis-server is running.
    public static var requiresRedis: Self {
        .enabled(if: TestEnv.redisPort != nil, "REDIS_PORT is not set: run the tests through scripts/test, which starts redis-server")
    }
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes. Returns whether it held.
@discardableResult
public func waitUntil(timeout: Duration = .seconds(20), _ condition: () throws -> Bool) rethrows -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline {
        if try condition() { return true }
        usleep(20_000)
    }
    return try condition()
}

/// Samples `condition` every 20 ms for `duration`: true when it held at every sample (for
/// "nothing changes for a while" checks, stricter than one look after a sleep).
@discardableResult
public func holds(for duration: Duration, _ condition: () throws -> Bool) rethrows -> Bool {
    let clock = ContinuousClock()
    let end = clock.now + duration
    while clock.now < end {
        if try !condition() { return false }
        usleep(20_000)
    }
    return try condition()
}

/// A child process started for a test, with its output in a file.
public final class Launched: @unchecked Sendable {
    public let process = Process()
    public let outputPath: String
    private let lock = NSLock()
    private var exitStatus: TerminationStatus?

    public init(_ path: String, _ args: [String], env: [String: String] = [:], outputPath: String) throws {
        self.outputPath = outputPath
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = args
        var environment = ProcessInfo.processInfo.environment
        for key in environment.keys where key.hasPrefix("HANDLER") || key.hasPrefix("REDIS_") && key != "REDIS_PORT" { environment[key] = nil }
        environment.merge(env) { _, new in new }
        process.environment = environment
        FileManager.default.createFile(atPath: outputPath, contents: nil)
        let handle = FileHandle(forWritingAtPath: outputPath)!
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        process.terminationHandler = { [weak self] p in
            guard let self else { return }
            let status = TerminationStatus(p)
            self.lock.lock(); self.exitStatus = status; self.lock.unlock()
        }
        try process.run()
    }

    public var pid: Int32 { process.processIdentifier }
    public var status: TerminationStatus? { lock.lock(); defer { lock.unlock() }; return exitStatus }
    public var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    public func signal(_ sig: Int32) { kill(pid, sig) }

    /// Waits for the exit; SIGKILLs and returns nil after `timeout`.
    @discardableResult
    public func wait(timeout: Duration = .seconds(30)) -> TerminationStatus? {
        if waitUntil(timeout: timeout, { status != nil }) { return status }
        kill(pid, SIGKILL)
        waitUntil(timeout: .seconds(5)) { status != nil }
        return nil
    }

    deinit { if status == nil { kill(pid, SIGKILL) } }
}

/// Runs a command to completion and returns (status, combined output).
public func runToEnd(_ path: String, _ args: [String], env: [String: String] = [:], timeout: Duration = .seconds(30)) throws -> (TerminationStatus?, String) {
    let out = TestEnv.scratch("run") + "/out.txt"
    let p = try Launched(path, args, env: env, outputPath: out)
    let status = p.wait(timeout: timeout)
    return (status, p.output)
}

/// Processes whose command line contains `marker` (from /proc), excluding zombies.
public func processesMatching(_ marker: String) -> [Int32] {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
    var found: [Int32] = []
    for name in names {
        guard let pid = Int32(name), pid != getpid(),
              let data = FileManager.default.contents(atPath: "/proc/\(name)/cmdline"), !data.isEmpty else { continue }
        let cmd = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
        if cmd.contains(marker) { found.append(pid) }
    }
    return found
}

extension RedisConnection {
    public func llen(_ key: String) throws -> Int { try send(["LLEN", RedisArg(key)]).int ?? 0 }
    public func lrange(_ key: String) throws -> [[UInt8]] {
        try send(["LRANGE", RedisArg(key), "0", "-1"]).array?.compactMap(\.bytes) ?? []
    }
    public func lpush(_ key: String, _ values: [[UInt8]]) throws {
        for chunk in stride(from: 0, to: values.count, by: 1000) {
            let part = values[chunk..<min(chunk + 1000, values.count)]
            _ = try send(["LPUSH", RedisArg(key)] + part.map { RedisArg(bytes: $0) })
        }
    }
    public func lpush(_ key: String, strings: [String]) throws { try lpush(key, strings.map { Array($0.utf8) }) }
}

/// Parses a result record.
public func jsonObject(_ bytes: [UInt8]) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]) ?? [:]
}

/// A redis-server of a test's own (for outages: stop and restart it), with AOF so data survives.
public final class PrivateRedis: @unchecked Sendable {
    public let port: Int
    public let dir: String
    private var process: Launched?
    /// `requirepass` (nil: none).
    public let password: String?

    public init(password: String? = nil) throws {
        self.password = password
        dir = TestEnv.scratch("redis")
        var chosen = 0
        for _ in 0..<50 {
            let candidate = Int.random(in: 20000...32000)  // below the ephemeral range (32768+): a client retrying a dead port can self-connect and take it
            let probe = RedisConnection(endpoint: RedisEndpoint(host: "127.0.0.1", port: candidate), connectTimeout: .milliseconds(200))
            if (try? probe.connect()) == nil { chosen = candidate; break }
        }
        port = chosen
        try start()
    }

    public var url: String { "redis://127.0.0.1:\(port)/0" }

    public func start() throws {
        process = try Launched("/usr/bin/redis-server", ["--port", "\(port)", "--bind", "127.0.0.1", "--dir", dir, "--save", "",
                                                        "--appendonly", "yes", "--appendfsync", "always"] + (password.map { ["--requirepass", $0] } ?? []),
                           outputPath: "\(dir)/redis.log")
        let up = waitUntil(timeout: .seconds(10)) {
            let c = RedisConnection(endpoint: endpoint)
            return (try? c.connect()) != nil && (try? c.send(["PING"])) == .status("PONG")
        }
        if !up { throw RedisError.connection(code: -1, message: "private redis-server did not start on \(port)") }
    }

    /// SHUTDOWN (the AOF is flushed), then wait for the process to exit.
    /// Where it listens, with the password.
    public var endpoint: RedisEndpoint { RedisEndpoint(host: "127.0.0.1", port: port, password: password) }

    public func stop() {
        let c = RedisConnection(endpoint: endpoint)
        if (try? c.connect()) != nil { _ = try? c.send(["SHUTDOWN"]) }
        process?.wait(timeout: .seconds(10))
    }

    deinit { process?.signal(SIGKILL) }
}

/// A minimal HTTP GET on loopback: returns the status line and the body.
public func httpGet(port: Int, path: String, method: String = "GET") -> (status: String, body: String)? {
    httpRequest(port: port, method: method, path: path).map { ($0.status, $0.body) }
}

/// The port in the orchestrator's `http.listening … port=N …` log line (0 until it appears).
public func listeningPort(_ log: String) -> Int {
    guard let line = log.split(separator: "\n").first(where: { $0.contains("http.listening") }),
          let range = line.range(of: "port=") else { return 0 }
    return Int(line[range.upperBound...].prefix { $0.isNumber }) ?? 0
}

/// One HTTP/1.1 request (Connection: close) on loopback with extra header lines and an optional body: the status
/// line, the header lines and the body; nil when the connection fails or closes without an answer.
public func httpRequest(port: Int, method: String, path: String, headers: [String] = [], body: String? = nil)
    -> (status: String, headers: [String], body: String)? {
    let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard s >= 0 else { return nil }
    defer { close(s) }
    var timeout = timeval(tv_sec: 15, tv_usec: 0)
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
    let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard ok == 0 else { return nil }
    var head = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    for h in headers { head += h + "\r\n" }
    if let body { head += "Content-Length: \(body.utf8.count)\r\n" }
    let request = Array((head + "\r\n" + (body ?? "")).utf8)
    var off = 0
    while off < request.count {
        let n = request.withUnsafeBytes { send(s, $0.baseAddress! + off, request.count - off, Int32(MSG_NOSIGNAL)) }
        if n <= 0 { break }
        off += n
    }
    var data: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = recv(s, &buf, buf.count, 0)
        if n <= 0 { break }
        data += buf[0..<n]
    }
    let text = String(decoding: data, as: UTF8.self)
    guard let split = text.range(of: "\r\n\r\n") else { return nil }
    let lines = text[..<split.lowerBound].split(separator: "\r\n").map(String.init)
    return (lines.first ?? "", Array(lines.dropFirst()), String(text[split.upperBound...]))
}
