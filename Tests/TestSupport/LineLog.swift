import Logging
import Synchronization

/// Captures what is logged, in order, for assertions on what an operator reads: `lines` are
/// the messages, `entries` the messages with their metadata (rendered as text).
public final class LineLog: Sendable {
    public struct Entry: Sendable {
        public let message: String
        public let metadata: [String: String]
    }

    private let store = Mutex<[Entry]>([])

    public init() {}

    /// The messages logged, in order.
    public var lines: [String] { store.withLock { $0.map(\.message) } }
    /// The messages with their metadata, in order.
    public var entries: [Entry] { store.withLock { $0 } }
    public func append(_ entry: Entry) { store.withLock { $0.append(entry) } }
    public var logger: Logger { Logger(label: "test") { _ in Handler(log: self) } }

    struct Handler: LogHandler {
        let log: LineLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug
        subscript(metadataKey key: String) -> Logger.Metadata.Value? { get { metadata[key] } set { metadata[key] = newValue } }
        func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
            log.append(Entry(message: "\(message)", metadata: (metadata ?? [:]).mapValues { "\($0)" }))
        }
    }
}
