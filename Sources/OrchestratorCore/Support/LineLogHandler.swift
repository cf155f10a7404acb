import Foundation
import Logging

/// Writes `[10:30:00] | INFO    | message key=value` lines to stderr and, optionally, a file.
/// The format is the one operators already grep (PRODUCT.md).
public struct LineLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    private let sink: LogSink

    public init(sink: LogSink, level: Logger.Level = .info) {
        self.sink = sink
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = "[\(Self.clockTime())] | \(Self.levelName(event.level)) | \(event.message)"
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        for key in merged.keys.sorted() {
            line += " \(key)=\(Self.quoteIfNeeded("\(merged[key]!)"))"
        }
        sink.write(line + "\n")
    }

    static func levelName(_ level: Logger.Level) -> String {
        let name: String
        switch level {
        case .trace: name = "TRACE"
        case .debug: name = "DEBUG"
        case .info: name = "INFO"
        case .notice: name = "NOTICE"
        case .warning: name = "WARNING"
        case .error: name = "ERROR"
        case .critical: name = "CRITICAL"
        }
        return name.count >= 7 ? name : name.padding(toLength: 7, withPad: " ", startingAt: 0)
    }

    static func clockTime() -> String {
        var t = time(nil)
        var parts = tm()
        localtime_r(&t, &parts)
        return String(format: "%02d:%02d:%02d", Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    }

    static func quoteIfNeeded(_ s: String) -> String {
        if s.isEmpty { return "\"\"" }
        if s.contains(where: { $0 == " " || $0 == "\"" || $0 == "\n" || $0 == "=" }) { return JSONObjectWriter.quote(s) }
        return s
    }
}

/// Opens a log file for appending (created 0644, close-on-exec); -1 on error, errno set.
public func openForAppend(_ path: String) -> Int32 {
    open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
}

/// Where log lines go: a list of descriptors, written under a lock, whole lines at a time.
public final class LogSink: @unchecked Sendable {
    private let lock = NSLock()
    private var fds: [Int32]
    private var path: String?

    public init(fds: [Int32]) { self.fds = fds }

    /// Reopens the file (SIGHUP after logrotate moved it).
    public func reopen() {
        guard let path else { return }
        let fd = openForAppend(path)
        guard fd >= 0 else { return }
        lock.lock()
        if fds.count > 1 { close(fds[1]); fds[1] = fd } else { fds.append(fd) }
        lock.unlock()
    }

    /// stderr plus `path` (appended, created if missing). Returns nil for the file part on error.
    public static func stderrAndFile(_ path: String?) -> (LogSink, String?) {
        guard let path else { return (LogSink(fds: [STDERR_FILENO]), nil) }
        let fd = openForAppend(path)
        if fd < 0 { return (LogSink(fds: [STDERR_FILENO]), "cannot open \(path): \(String(cString: strerror(errno)))") }
        let sink = LogSink(fds: [STDERR_FILENO, fd])
        sink.path = path
        return (sink, nil)
    }

    public func write(_ line: String) {
        let bytes = Array(line.utf8)
        lock.lock()
        defer { lock.unlock() }
        for fd in fds {
            var off = 0
            while off < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, bytes.count - off) }
                if n <= 0 { if errno == EINTR { continue }; break }
                off += n
            }
        }
    }
}
