import Foundation
import Synchronization
import Logging

/// Writes `[10:30:00] | INFO     | message key=value` lines (or one JSON object per line with
/// `--log-format json`) to a sink. The text shape is the one operators already grep (PRODUCT.md);
/// the seed's tags stay inside the message in both formats.
public struct LineLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    private let sink: LogSink
    private let settings: LogSettings

    public init(sink: LogSink, settings: LogSettings = LogSettings()) {
        self.sink = sink
        self.settings = settings
        self.logLevel = settings.level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        sink.write(Self.format(level: event.level, message: "\(event.message)", metadata: merged, settings: settings,
                               milliseconds: WallClock.nowMilliseconds()) + "\n")
    }

    /// One line, without its newline: a pure function of its inputs.
    public static func format(level: Logger.Level, message: String, metadata: Logger.Metadata, settings: LogSettings, milliseconds: Int64) -> String {
        let stamp = settings.time == .iso ? WallClock.iso8601(milliseconds: milliseconds) : clockTime(milliseconds: milliseconds)
        let sorted = metadata.sorted { $0.key < $1.key }
        guard settings.format == .json else {
            // `event` is for JSON: a text line's message is its event, or a seed line kept as it was.
            var line = "[\(stamp)] | \(levelName(level)) | \(TerminalText.safe(message))"
            for (key, value) in sorted where key != "event" { line += " \(key)=\(quoteIfNeeded("\(value)"))" }
            return line
        }
        // `event`: the stable event name: the `event` metadata (a seed-tagged line's, from its
        // `ScaleDecision`), else the message when it is one word.
        let event = metadata["event"].map { "\($0)" } ?? (message.contains(" ") ? nil : message)
        var fields = JSONObjectWriter()
        for (key, value) in sorted where key != "event" { fields.string(key, "\(value)") }
        var w = JSONObjectWriter()
        w.string("ts", WallClock.iso8601(milliseconds: milliseconds))
        w.string("level", "\(level)")
        w.string("event", event)
        w.string("message", message)
        w.raw("metadata", fields.text)
        return w.text
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
        return name.padding(toLength: 8, withPad: " ", startingAt: 0)  // CRITICAL is the longest: columns align
    }

    static func clockTime(milliseconds: Int64) -> String {
        var t = time_t(milliseconds / 1000)
        var parts = tm()
        localtime_r(&t, &parts)
        var out = [UInt8]()
        WallClock.digits(Int(parts.tm_hour), 2, &out); out.append(UInt8(ascii: ":"))
        WallClock.digits(Int(parts.tm_min), 2, &out); out.append(UInt8(ascii: ":"))
        WallClock.digits(Int(parts.tm_sec), 2, &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func quoteIfNeeded(_ s: String) -> String {
        if s.isEmpty { return "\"\"" }
        // Control characters (a handler's ESC or CR) are escaped as JSON does: a log on a terminal stays a log.
        if s.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" }) || s.unicodeScalars.contains(where: TerminalText.isControl) {
            return TerminalText.safe(JSONObjectWriter.quote(s))
        }
        return s
    }
}

/// Opens a log file for appending (created 0644, close-on-exec); -1 on error, errno set.
public func openForAppend(_ path: String) -> Int32 {
    open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
}

/// Where log lines go: a list of descriptors, written under a lock, whole lines at a time (the
/// lock also orders a reopen after SIGHUP against the writes of every thread).
public final class LogSink: Sendable {
    private let fds: Mutex<[Int32]>
    /// The file reopened on SIGHUP (nil: stderr only).
    private let path: String?

    public convenience init(fds: [Int32]) { self.init(fds: fds, path: nil) }

    private init(fds: [Int32], path: String?) {
        self.fds = Mutex(fds)
        self.path = path
    }

    /// Reopens the file (SIGHUP after logrotate moved it).
    public func reopen() {
        guard let path else { return }
        let fd = openForAppend(path)
        guard fd >= 0 else { return }
        fds.withLock { fds in
            if let last = fds.last, last != STDERR_FILENO { close(last); fds[fds.count - 1] = fd } else { fds.append(fd) }
        }
    }

    /// stderr and/or `path` (appended, created if missing), per `--log-to`. The error text when
    /// the file cannot be opened.
    public static func open(_ path: String, destination: LogSettings.Destination) -> (LogSink, String?) {
        let stderr: [Int32] = destination == .file ? [] : [STDERR_FILENO]
        guard destination != .stderr else { return (LogSink(fds: stderr), nil) }
        let fd = openForAppend(path)
        if fd < 0 { return (LogSink(fds: [STDERR_FILENO]), String(cString: strerror(errno))) }
        return (LogSink(fds: stderr + [fd], path: path), nil)
    }

    public func write(_ line: String) {
        let bytes = Array(line.utf8)
        fds.withLock { fds in
            for fd in fds { Self.writeAll(bytes, to: fd) }
        }
    }

    private static func writeAll(_ bytes: [UInt8], to fd: Int32) {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, bytes.count - off) }
            if n <= 0 { if errno == EINTR { continue }; break }
            off += n
        }
    }
}
