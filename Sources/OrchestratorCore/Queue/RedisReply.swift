/// A decoded Redis reply. hiredis pointers never leave `RedisConnection.swift`; callers see this enum.
public enum RedisReply: Sendable, Equatable {
    case string([UInt8])
    case status(String)
    case integer(Int)
    case array([RedisReply])
    case null
    /// Only appears nested (inside an array, e.g. EXEC results); a top-level error is thrown.
    case error(String)

    public var int: Int? {
        switch self {
        case .integer(let n): return n
        case .string(let b): return Int(String(decoding: b, as: UTF8.self))
        default: return nil
        }
    }

    public var bytes: [UInt8]? {
        switch self {
        case .string(let b): return b
        case .status(let s): return Array(s.utf8)
        default: return nil
        }
    }

    public var text: String? { bytes.map { String(decoding: $0, as: UTF8.self) } }

    public var array: [RedisReply]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var isNull: Bool { self == .null }

    /// `HGETALL` style flat array to dictionary.
    public var fields: [String: String] {
        guard let items = array else { return [:] }
        var out: [String: String] = [:]
        var i = 0
        while i + 1 < items.count {
            if let k = items[i].text { out[k] = items[i + 1].text ?? "" }
            i += 2
        }
        return out
    }
}

/// One argument of a Redis command: binary-safe bytes.
public struct RedisArg: Sendable, ExpressibleByStringLiteral, ExpressibleByStringInterpolation {
    public let bytes: [UInt8]
    public init(_ string: String) { bytes = Array(string.utf8) }
    public init(bytes: [UInt8]) { self.bytes = bytes }
    public init(_ n: Int) { bytes = Array(String(n).utf8) }
    public init(stringLiteral value: String) { self.init(value) }
}

/// Errors at the Redis boundary. `.connection` means the context is dead and must be
/// reconnected; `.server` is an error reply on a healthy connection.
public enum RedisError: Error, Sendable, CustomStringConvertible {
    case connection(code: Int32, message: String)
    case authentication(String)
    case server(String)
    case unexpectedReply(String)
    case invalidURL(String)

    public var description: String {
        switch self {
        case .connection(_, let m): return "Redis connection error: \(m)"
        case .authentication(let m): return "Redis authentication failed: \(m)"
        case .server(let m): return "Redis error: \(m)"
        case .unexpectedReply(let m): return "unexpected Redis reply: \(m)"
        case .invalidURL(let m): return "invalid Redis URL: \(m)"
        }
    }

    /// True when retrying after a reconnect may help.
    /// The connection is gone (the context is dead and must be reconnected).
    public var isConnectionLoss: Bool {
        if case .connection = self { return true }
        return false
    }

    /// The server is up but cannot answer yet (loading its data set, a replica without its
    /// master, a long script running, a master without enough replicas to accept writes): retry
    /// later on the same, healthy connection.
    public var isTransient: Bool {
        if case .server(let m) = self {
            // NOREPLICAS: a master with min-replicas-to-write and no replica in reach refuses writes.
            return m.hasPrefix("LOADING") || m.hasPrefix("MASTERDOWN") || m.hasPrefix("BUSY") || m.hasPrefix("NOREPLICAS")
        }
        return false
    }

    /// Worth retrying after a wait: a lost connection or a transient server state.
    public var isRetryable: Bool { isConnectionLoss || isTransient }
}
