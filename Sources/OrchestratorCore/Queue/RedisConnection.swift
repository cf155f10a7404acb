import CHiredis
import Foundation

/// The one place that speaks hiredis. Not thread-safe: own one per thread or process.
/// After a `.connection` error the context is dead; call `reconnect()` (or use
/// `RedisLink`). What callers use is `RedisClient`; a test's fake conforms too.
public final class RedisConnection: RedisClient {
    public let endpoint: RedisEndpoint
    public let connectTimeout: Duration
    public let commandTimeout: Duration
    private var context: UnsafeMutablePointer<redisContext>?
    /// The SHAs of the scripts loaded since the last connect (`RedisClient.eval`).
    public let scripts = ScriptCache()

    /// Creates an unconnected connection; call `connect()`.
    public init(endpoint: RedisEndpoint, connectTimeout: Duration = .seconds(2), commandTimeout: Duration = .seconds(5)) {
        self.endpoint = endpoint
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
    }

    deinit { if let context { Self.abort(context) } }

    public var isConnected: Bool { context != nil }

    /// The socket descriptor (-1 when not connected), for the worker's wake-up on TERM.
    public var socketFD: Int32 { context?.pointee.fd ?? -1 }

    /// Connects, authenticates and selects the database (dropping any previous context).
    /// Throws `.authentication` on bad credentials (retrying will not help) and `.connection`
    /// when the server is unreachable.
    public func connect() throws(RedisError) {
        close()
        try open()
    }

    public func close() {
        if let context { Self.abort(context) }
        context = nil
        scripts.removeAll()
    }

    /// Frees a context with an abortive close (SO_LINGER 0: the kernel sends RST and drops what
    /// it had not delivered). A plain close leaves the socket to the kernel, which goes on
    /// retransmitting the commands written while the link was cut: Redis then ran a renewal
    /// 25 s late, after the host had left the fleet, and brought back its member record (the
    /// fleet refused a new host for the dead one's caps). Every command we still care about was
    /// answered before a close, so nothing of value is dropped.
    static func abort(_ ctx: UnsafeMutablePointer<redisContext>) {
        var off = linger(l_onoff: 1, l_linger: 0)
        if ctx.pointee.fd >= 0 { _ = setsockopt(ctx.pointee.fd, SOL_SOCKET, SO_LINGER, &off, socklen_t(MemoryLayout<linger>.size)) }
        redisFree(ctx)
    }

    /// The host and port of the server this connection was last opened to (with Sentinel, the
    /// master the sentinels named).
    public private(set) var address: SentinelSettings.Address?

    /// Where to connect: asked of the sentinels when they are configured, else the URL's host.
    /// A fresh context each time (never `redisReconnect`, which reuses the old address), so a
    /// DNS name is resolved again and a failover is followed.
    private func open() throws(RedisError) {
        let target = try endpoint.sentinel.map { s throws(RedisError) in try SentinelDiscovery.masterAddress(s, timeout: connectTimeout) }
            ?? SentinelSettings.Address(host: endpoint.host, port: endpoint.port)
        address = target
        guard let ctx = redisConnectWithTimeout(target.host, Int32(target.port), timeval(connectTimeout)) else {
            throw .connection(code: -1, message: "cannot allocate a Redis context")
        }
        if ctx.pointee.err != 0 {
            let message = Self.errorString(ctx)
            let code = ctx.pointee.err
            redisFree(ctx)
            throw .connection(code: code, message: "\(target): \(message)")
        }
        // hiredis does not set close-on-exec: without it every child (workers, handlers) would
        // inherit this connection and keep it open after we are gone.
        _ = fcntl(ctx.pointee.fd, F_SETFD, FD_CLOEXEC)
        redisSetTimeout(ctx, timeval(commandTimeout))
        redisEnableKeepAlive(ctx)
        context = ctx
        do {
            if let password = endpoint.password {
                var args: [RedisArg] = ["AUTH"]
                if let user = endpoint.user { args.append(RedisArg(user)) }
                args.append(RedisArg(password))
                _ = try send(args)
            }
            if endpoint.db != 0 { _ = try send(["SELECT", RedisArg(endpoint.db)]) }
            if endpoint.sentinel != nil { try checkMasterRole(target) }
        } catch {
            close()
            if case .server(let m) = error {
                if m.hasPrefix("WRONGPASS") || m.hasPrefix("NOAUTH") || m.contains("invalid password") || m.contains("AUTH") {
                    throw .authentication(m)
                }
                if m.contains("DB index") { throw .server("SELECT \(endpoint.db): \(m)") }
            }
            throw error
        }
    }

    /// The sentinels may still name a master that was just demoted: `ROLE` must say `master`.
    private func checkMasterRole(_ target: SentinelSettings.Address) throws(RedisError) {
        let reply = try send(["ROLE"])
        guard case .array(let items) = reply, let role = items.first?.text, role == "master" else {
            throw .connection(code: -1, message: "\(target), named master by the sentinels, is not a master (ROLE: \(reply)); asking again")
        }
    }

    /// Sends one command and waits for its reply. Binary-safe.
    public func send(_ args: [RedisArg]) throws(RedisError) -> RedisReply {
        guard let ctx = context else { throw .connection(code: -1, message: "not connected") }
        let raw: UnsafeMutableRawPointer? = Self.withArgv(args) { argc, argv, lens in
            redisCommandArgv(ctx, argc, argv, lens)
        }
        return try consume(raw, ctx)
    }

    /// Sends several commands in one round trip and returns their replies in order.
    /// A server error in one command is returned as `.error` in its place.
    public func pipeline(_ commands: [[RedisArg]]) throws(RedisError) -> [RedisReply] {
        guard let ctx = context else { throw .connection(code: -1, message: "not connected") }
        for args in commands {
            let rc = Self.withArgv(args) { argc, argv, lens in redisAppendCommandArgv(ctx, argc, argv, lens) }
            if rc != REDIS_OK { throw deadContext(ctx) }
        }
        var replies: [RedisReply] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var raw: UnsafeMutableRawPointer?
            if redisGetReply(ctx, &raw) != REDIS_OK { throw deadContext(ctx) }
            do { replies.append(try consume(raw, ctx)) } catch {
                if case .server(let m) = error { replies.append(.error(m)) } else { throw error }
            }
        }
        return replies
    }

    // `scriptCommand`, `forgetScript` and `eval` (NOSCRIPT reload): `RedisClient`.

    // MARK: - Pub/sub (a subscriber connection: its own thread, nothing else on it)

    /// Sends commands without waiting for their replies (SUBSCRIBE, UNSUBSCRIBE: the replies
    /// arrive through `nextPushed`).
    public func sendWithoutReply(_ commands: [[RedisArg]]) throws(RedisError) {
        guard let ctx = context else { throw .connection(code: -1, message: "not connected") }
        for args in commands {
            let rc = Self.withArgv(args) { argc, argv, lens in redisAppendCommandArgv(ctx, argc, argv, lens) }
            if rc != REDIS_OK { throw deadContext(ctx) }
        }
        var done: Int32 = 0
        while done == 0 {
            if redisBufferWrite(ctx, &done) != REDIS_OK { throw deadContext(ctx) }
        }
    }

    /// The next message pushed to a subscriber connection, waiting at most `timeout`; nil when
    /// none came. The wait is a `poll(2)` on the socket, not a socket timeout (which would leave
    /// the context dead): an idle subscriber stays connected.
    public func nextPushed(timeout: Duration) throws(RedisError) -> RedisReply? {
        guard let ctx = context else { throw .connection(code: -1, message: "not connected") }
        var raw: UnsafeMutableRawPointer?
        if redisGetReplyFromReader(ctx, &raw) != REDIS_OK { throw deadContext(ctx) }
        if raw == nil {
            var fds = pollfd(fd: ctx.pointee.fd, events: Int16(POLLIN), revents: 0)
            let ms = Int32(min(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000, 60_000))
            let ready = poll(&fds, 1, ms)
            if ready == 0 || (ready < 0 && errno == EINTR) { return nil }
            if ready < 0 || redisBufferRead(ctx) != REDIS_OK { throw deadContext(ctx) }
            if redisGetReplyFromReader(ctx, &raw) != REDIS_OK { throw deadContext(ctx) }
            if raw == nil { return nil }
        }
        return try consume(raw, ctx)
    }

    // MARK: - hiredis boundary

    private func consume(_ raw: UnsafeMutableRawPointer?, _ ctx: UnsafeMutablePointer<redisContext>) throws(RedisError) -> RedisReply {
        guard let raw else { throw deadContext(ctx) }
        defer { freeReplyObject(raw) }
        let reply = raw.assumingMemoryBound(to: redisReply.self)
        if reply.pointee.type == REDIS_REPLY_ERROR {
            let message = Self.text(reply)
            // A demoted master answers writes with READONLY: drop the context so the next
            // attempt asks the sentinels (or DNS) where the master is now.
            if SentinelDiscovery.isReadOnlyError(message) {
                close()
                throw .connection(code: -1, message: "read-only replica at \(address.map(\.description) ?? "?"): \(message)")
            }
            throw .server(message)
        }
        return Self.decode(reply)
    }

    private func deadContext(_ ctx: UnsafeMutablePointer<redisContext>) -> RedisError {
        let error = RedisError.connection(code: ctx.pointee.err, message: Self.errorString(ctx))
        close()
        return error
    }

    private static func decode(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING:
            guard let str = r.str else { return .string([]) }
            return .string(Array(UnsafeRawBufferPointer(start: str, count: Int(r.len))))
        case REDIS_REPLY_STATUS: return .status(text(reply))
        case REDIS_REPLY_ERROR: return .error(text(reply))
        case REDIS_REPLY_INTEGER: return .integer(Int(r.integer))
        case REDIS_REPLY_ARRAY:
            var items: [RedisReply] = []
            items.reserveCapacity(Int(r.elements))
            for i in 0..<Int(r.elements) {
                if let element = r.element?[i] { items.append(decode(element)) } else { items.append(.null) }
            }
            return .array(items)
        default: return .null
        }
    }

    private static func text(_ reply: UnsafeMutablePointer<redisReply>) -> String {
        guard let str = reply.pointee.str else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: str, count: Int(reply.pointee.len)), as: UTF8.self)
    }

    private static func errorString(_ ctx: UnsafeMutablePointer<redisContext>) -> String {
        let message = withUnsafeBytes(of: ctx.pointee.errstr) { buf -> String in
            let bytes = buf.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
        return message.isEmpty ? "I/O error (code \(ctx.pointee.err))" : message
    }

    private static func withArgv<R>(_ args: [RedisArg], _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R) -> R {
        // Keep every argument in one contiguous buffer so the pointers stay valid for the call.
        let lengths = args.map { $0.bytes.count }
        var storage = [UInt8]()
        storage.reserveCapacity(lengths.reduce(0, +) + 1)
        for a in args { storage += a.bytes }
        storage.append(0)
        return storage.withUnsafeBufferPointer { buf -> R in
            let base = UnsafeRawPointer(buf.baseAddress!).assumingMemoryBound(to: CChar.self)
            var pointers: [UnsafePointer<CChar>?] = []
            pointers.reserveCapacity(args.count)
            var offset = 0
            for len in lengths {
                pointers.append(base + offset)
                offset += len
            }
            return pointers.withUnsafeMutableBufferPointer { p in
                lengths.withUnsafeBufferPointer { l in
                    body(Int32(args.count), p.baseAddress!, l.baseAddress!)
                }
            }
        }
    }
}

private func timeval(_ d: Duration) -> timeval {
    let (seconds, attoseconds) = d.components
    return Glibc.timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
}
