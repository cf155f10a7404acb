import Logging

/// A key a write skipped because the server refused it (a key of the wrong type), with the error.
public struct KeyFault: Sendable, Equatable {
    public var key: String
    public var error: String

    public init(key: String, error: String) {
        self.key = key
        self.error = error
    }

    /// The `<key>\n<error>` strings a queue script returns for the keys it skipped.
    static func list(_ reply: RedisReply) -> [KeyFault] {
        (reply.array ?? []).compactMap(\.text).map { text in
            let parts = text.split(separator: "\n", maxSplits: 1).map(String.init)
            return KeyFault(key: parts.first ?? "", error: parts.count > 1 ? parts[1] : "")
        }
    }
}

extension RedisError {
    /// The key a queue script refused to write, from its `WRONGTYPE <key> is a <type>, not a
    /// <type>; nothing was written` error (nil for other errors).
    public var wrongTypeKey: String? {
        guard case .server(let message) = self, message.hasPrefix("WRONGTYPE "),
              let end = message.range(of: " is a ") else { return nil }
        return String(message[message.index(message.startIndex, offsetBy: 10)..<end.lowerBound])
    }

    /// A WRONGTYPE reply, from a script or a plain command.
    public var isWrongType: Bool {
        if case .server(let message) = self { return message.hasPrefix("WRONGTYPE") }
        return false
    }
}

/// Keys that hold no job (stats, heartbeats, the paused set, events, history, alerts, rates,
/// the instance hash) found of the wrong type: the write or read is skipped and the process goes
/// on. Each key is logged once when it starts failing (`redis.key_error`, naming the key, the
/// error and what was skipped) and once when it works again (`redis.key_ok`), not at every try.
public struct KeyFaults {
    private var reported: [String: String] = [:]

    public init() {}

    /// The keys being reported now.
    public var keys: [String] { reported.keys.sorted() }

    /// Notes a refused key; logs when it was not being reported.
    public mutating func failed(_ key: String, error: String, skipped: String, logger: Logger) {
        guard reported[key] == nil else { return }
        reported[key] = error
        logger.error("\(LogEvents.keyError)", metadata: ["key": "\(key)", "error": "\(error)", "action": "\(skipped)"])
    }

    /// Notes that `key` was written or read fine; logs when it had been reported.
    public mutating func succeeded(_ key: String, logger: Logger) {
        guard reported.removeValue(forKey: key) != nil else { return }
        logger.info("\(LogEvents.keyOK)", metadata: ["key": "\(key)"])
    }

    /// Runs a pipeline that writes or reads keys holding no job (instance, events, alerts,
    /// history, rates, heartbeats, the paused set, stats) and checks its replies: a key the
    /// server refuses is skipped and reported (`failed`), one that works again is cleared.
    /// Commands in `exempt` are not checked. Nil on a connection error.
    @discardableResult
    public mutating func pipeline(_ commands: [[RedisArg]], on link: RedisLink, skipped: String, exempt: Range<Int>? = nil,
                                  logger: Logger) -> [RedisReply]? {
        guard let replies = try? link.perform({ c throws(RedisError) in try c.pipeline(commands) }) else { return nil }
        var checked = Array(zip(commands, replies))
        if let exempt { checked.removeSubrange(exempt.clamped(to: checked.indices)) }
        check(checked.map(\.0), checked.map(\.1), skipped: skipped, logger: logger)
        return replies
    }

    /// After a pipeline: a key with an error reply (the command's first argument, or the key a
    /// script's refusal names) is reported; a key whose commands all succeeded is cleared.
    /// Transient replies (NOSCRIPT, LOADING, BUSY, MASTERDOWN) say nothing about a key.
    public mutating func check(_ commands: [[RedisArg]], _ replies: [RedisReply], skipped: String, logger: Logger) {
        var errors: [(key: String, message: String)] = []
        var fine: Set<String> = []
        for (command, reply) in zip(commands, replies) where command.count > 1 {
            let key = String(decoding: command[1].bytes, as: UTF8.self)
            if case .error(let message) = reply {
                if ["NOSCRIPT", "LOADING", "BUSY", "MASTERDOWN"].contains(where: message.hasPrefix) { continue }
                errors.append((RedisError.server(message).wrongTypeKey ?? key, message))
            } else {
                fine.insert(key)
            }
        }
        for (key, message) in errors { failed(key, error: message, skipped: skipped, logger: logger) }
        for key in fine.subtracting(errors.map(\.key)) where reported[key] != nil { succeeded(key, logger: logger) }
    }
}
