/// What the rest of the program asks of Redis: one command, a pipeline, and Lua scripts by SHA
/// (loaded on first use and again after a NOSCRIPT). `RedisConnection` speaks it over hiredis;
/// a test's fake answers from memory, so a decision (status, scaling) is tested without a server.
/// Not thread-safe: own one per thread or process.
public protocol RedisClient: AnyObject {
    /// Where it connects (logged by `RedisLink`).
    var endpoint: RedisEndpoint { get }
    /// The host and port it last opened (with Sentinel, the master the sentinels named).
    var address: SentinelSettings.Address? { get }
    var isConnected: Bool { get }
    /// The socket descriptor, -1 when there is none (the worker's wake-up on TERM).
    var socketFD: Int32 { get }
    /// The SHAs of the scripts loaded on this connection (forgotten when it closes).
    var scripts: ScriptCache { get }
    /// Connects (dropping any previous connection). `.authentication`: retrying will not help.
    func connect() throws(RedisError)
    func close()
    /// Sends one command and waits for its reply. An error reply is thrown as `.server`.
    func send(_ args: [RedisArg]) throws(RedisError) -> RedisReply
    /// Sends several commands in one round trip; an error reply comes back as `.error` in its place.
    func pipeline(_ commands: [[RedisArg]]) throws(RedisError) -> [RedisReply]
}

extension RedisClient {
    public var socketFD: Int32 { -1 }

    /// An `EVALSHA` command for a pipeline (the script is loaded on first use). When a pipeline
    /// reply is NOSCRIPT (the server restarted), pass it to `forgetScript(ifNoScript:)` so the
    /// next call loads it again.
    public func scriptCommand(_ script: String, keys: [String], args: [RedisArg]) throws(RedisError) -> [RedisArg] {
        ["EVALSHA", RedisArg(try sha(of: script)), RedisArg(keys.count)] + keys.map { RedisArg($0) } + args
    }

    /// Forgets a script's SHA when `reply` says the server does not know it.
    public func forgetScript(_ script: String, ifNoScript reply: RedisReply) {
        if case .error(let m) = reply, m.hasPrefix("NOSCRIPT") { scripts.forget(script) }
    }

    /// Runs a Lua script by SHA, loading it on first use or after the server forgot it (restart).
    public func eval(_ script: String, keys: [String], args: [RedisArg]) throws(RedisError) -> RedisReply {
        var tail: [RedisArg] = [RedisArg(keys.count)]
        tail += keys.map { RedisArg($0) }
        tail += args
        for _ in 0..<2 {
            let sha = try sha(of: script)
            do {
                return try send(["EVALSHA", RedisArg(sha)] + tail)
            } catch {
                if case .server(let m) = error, m.hasPrefix("NOSCRIPT") { scripts.forget(script); continue }
                throw error
            }
        }
        throw .unexpectedReply("script could not be loaded")
    }

    /// The script's SHA, from `SCRIPT LOAD` the first time.
    private func sha(of script: String) throws(RedisError) -> String {
        if let known = scripts.sha(of: script) { return known }
        guard let loaded = try send(["SCRIPT", "LOAD", RedisArg(script)]).text else {
            throw .unexpectedReply("SCRIPT LOAD returned no SHA")
        }
        scripts.remember(script, sha: loaded)
        return loaded
    }
}

/// The SHAs a connection's server knows, by script text.
public final class ScriptCache {
    private var shas: [String: String] = [:]
    public init() {}
    public func sha(of script: String) -> String? { shas[script] }
    public func remember(_ script: String, sha: String) { shas[script] = sha }
    public func forget(_ script: String) { shas[script] = nil }
    public func removeAll() { shas.removeAll() }
}
