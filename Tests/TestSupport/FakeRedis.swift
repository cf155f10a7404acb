import Glibc
import OrchestratorCore

/// A `RedisClient` that answers from memory, for tests about decisions (what `status` shows, how
/// many workers the supervisor starts), never about the wire or the scripts: those are tested
/// against redis-server. It holds a few key types, answers the commands the readers use, runs
/// scripts through closures keyed by the script's text, records every command it was sent, and
/// can be made to fail.
public final class FakeRedis: RedisClient {
    public enum Value {
        case string(String)
        case list([String])
        case hash([String: String])
        case set(Set<String>)
        case zset([String: Double])
    }

    public typealias Answer = (_ args: [String]) throws(RedisError) -> RedisReply
    public typealias ScriptAnswer = (_ keys: [String], _ args: [String]) throws(RedisError) -> RedisReply

    public var data: [String: Value] = [:]
    /// Every command received (pipelined ones too), as text, in order.
    public private(set) var sent: [[String]] = []
    /// Answers by command name (upper case), consulted before the model.
    public var answers: [String: Answer] = [:]
    /// When set, connecting and every command fail with it (a `.connection` error also disconnects).
    public var failure: RedisError?
    public let endpoint: RedisEndpoint
    public private(set) var address: SentinelSettings.Address?
    public private(set) var isConnected = false
    public let scripts = ScriptCache()
    private var scriptAnswers: [String: ScriptAnswer] = [:]
    /// The SHAs handed out by SCRIPT LOAD, to the script's text.
    private var loaded: [String: String] = [:]

    public init(endpoint: RedisEndpoint = RedisEndpoint(host: "fake", port: 6379, db: 0), connected: Bool = true) {
        self.endpoint = endpoint
        isConnected = connected
    }

    /// Answers `EVALSHA` of `script` (its keys, its other arguments).
    public func answer(script: String, _ body: @escaping ScriptAnswer) { scriptAnswers[script] = body }

    /// The commands received with this name (upper case), arguments after the name.
    public func sent(_ name: String) -> [[String]] { sent.filter { $0.first == name }.map { Array($0.dropFirst()) } }

    /// How many times `script` was run (EVALSHA of its SHA; a NOSCRIPT reply counted too).
    public func ran(_ script: String) -> Int {
        sent("EVALSHA").filter { $0.first == Self.digest(script) }.count
    }

    public func connect() throws(RedisError) {
        if let failure { throw failure }
        isConnected = true
        address = SentinelSettings.Address(host: endpoint.host, port: endpoint.port)
    }

    public func close() {
        isConnected = false
        scripts.removeAll()
    }

    public func send(_ args: [RedisArg]) throws(RedisError) -> RedisReply {
        guard isConnected else { throw .connection(code: -1, message: "not connected") }
        let text = args.map { String(decoding: $0.bytes, as: UTF8.self) }
        sent.append(text)
        if let failure {
            if failure.isConnectionLoss { close() }
            throw failure
        }
        let name = text.first?.uppercased() ?? ""
        let rest = Array(text.dropFirst())
        if let answer = answers[name] { return try answer(rest) }
        return try model(name, rest)
    }

    public func pipeline(_ commands: [[RedisArg]]) throws(RedisError) -> [RedisReply] {
        var replies: [RedisReply] = []
        for c in commands {
            do { replies.append(try send(c)) } catch {
                guard case .server(let m) = error else { throw error }
                replies.append(.error(m))
            }
        }
        return replies
    }

    // MARK: - The model

    private static let wrongType = RedisError.server("WRONGTYPE Operation against a key holding the wrong kind of value")

    private func model(_ name: String, _ a: [String]) throws(RedisError) -> RedisReply {
        let key = a.first ?? ""
        switch (name, data[key]) {
        case ("LLEN", nil), ("ZCARD", nil), ("SCARD", nil): return .integer(0)
        case ("LLEN", .list(let l)?): return .integer(l.count)
        case ("ZCARD", .zset(let z)?): return .integer(z.count)
        case ("HGETALL", nil), ("SMEMBERS", nil), ("LRANGE", nil): return .array([])
        case ("HGETALL", .hash(let h)?): return .array(h.sorted { $0.key < $1.key }.flatMap { [Self.bulk($0.key), Self.bulk($0.value)] })
        case ("SMEMBERS", .set(let s)?): return .array(s.sorted().map(Self.bulk))
        case ("LRANGE", .list(let l)?): return .array(l.map(Self.bulk))
        case ("GET", nil): return .null
        case ("GET", .string(let s)?): return Self.bulk(s)
        case ("LLEN", _), ("ZCARD", _), ("HGETALL", _), ("SMEMBERS", _), ("LRANGE", _), ("GET", _): throw Self.wrongType
        case ("SCAN", _): return scan(a)
        case ("SCRIPT", _): return load(a)
        case ("EVALSHA", _): return try evalsha(a)
        case ("DEL", _):
            let n = a.filter { data.removeValue(forKey: $0) != nil }.count
            return .integer(n)
        default:
            return .status("OK")  // writes the tests do not model (HSET of a heartbeat, XADD, PUBLISH…): recorded in `sent`
        }
    }

    private static func bulk(_ s: String) -> RedisReply { .string(Array(s.utf8)) }

    /// One pass over every key: cursor 0 in, cursor 0 out.
    private func scan(_ a: [String]) -> RedisReply {
        let pattern = a.firstIndex(of: "MATCH").flatMap { $0 + 1 < a.count ? a[$0 + 1] : nil } ?? "*"
        let keys = data.keys.filter { fnmatch(pattern, $0, 0) == 0 }.sorted()
        return .array([Self.bulk("0"), .array(keys.map(Self.bulk))])
    }

    private func load(_ a: [String]) -> RedisReply {
        guard a.count == 2, a[0].uppercased() == "LOAD" else { return .status("OK") }
        let sha = Self.digest(a[1])
        loaded[sha] = a[1]
        return Self.bulk(sha)
    }

    /// Like Redis's SHA1, a function of the text only (FNV-1a, 64 bits: enough for a test's scripts).
    private static func digest(_ script: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in script.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return String(h, radix: 16)
    }

    private func evalsha(_ a: [String]) throws(RedisError) -> RedisReply {
        guard let sha = a.first, let script = loaded[sha] else { throw .server("NOSCRIPT No matching script. Please use EVAL.") }
        let count = a.count > 1 ? Int(a[1]) ?? 0 : 0
        let keys = Array(a.dropFirst(2).prefix(count))
        let args = Array(a.dropFirst(2 + count))
        guard let answer = scriptAnswers[script] else { return .null }
        return try answer(keys, args)
    }

    /// The server forgets every script (a restart): the next EVALSHA of each is NOSCRIPT.
    public func flushScripts() { loaded.removeAll() }
}
