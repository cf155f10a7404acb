import Foundation
import Logging

/// A Redis client (`RedisClient`: a `RedisConnection`, or a test's fake) that survives outages: it reconnects with exponential backoff capped at
/// `maxBackoff` and logs the change of state once ("redis.down", then "redis.up" with how long it
/// lasted), not every attempt.
public final class RedisLink {
    public let connection: any RedisClient
    private let logger: Logger
    private let clock = ContinuousClock()
    private var downSince: ContinuousClock.Instant?
    private var nextAttempt: ContinuousClock.Instant?
    private var backoff: Duration = .milliseconds(100)
    /// While Redis is down a reconnection is tried at least this often, so a restart or failover is
    /// noticed within half a second of the server answering again (the lease renewal depends on
    /// it: see `LeaseClock`). A refused connect costs one syscall; an unreachable host at most the
    /// connect timeout.
    public static let maxBackoff: Duration = .milliseconds(500)

    public init(connection: any RedisClient, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    public var isDown: Bool { downSince != nil }
    /// When the next connection attempt is allowed (nil: at once).
    public var nextAttemptAt: ContinuousClock.Instant? { nextAttempt }
    /// How many outages have ended (a caller compares it with the value it saw last).
    public private(set) var outagesEnded = 0

    /// One attempt: reconnects first if needed (unless still backing off), runs `body`, and on a
    /// lost connection records the outage and rethrows.
    /// `expectedLoss`: a connection loss we caused ourselves (the worker's wake-up on TERM) is
    /// not an outage: no log, no backoff.
    public func perform<T>(expectedLoss: () -> Bool = { false }, _ body: (any RedisClient) throws(RedisError) -> T) throws(RedisError) -> T {
        if let nextAttempt, connection.isConnected, clock.now < nextAttempt {
            throw .connection(code: -1, message: "server busy; retrying")  // after LOADING/BUSY: wait out the backoff
        }
        if !connection.isConnected {
            if let nextAttempt, clock.now < nextAttempt {
                throw .connection(code: -1, message: "reconnecting")
            }
            do { try connection.connect() } catch { noteFailure(error); throw error }
        }
        do {
            let value = try body(connection)
            noteSuccess()
            return value
        } catch {
            if error.isConnectionLoss {
                connection.close()
                if !expectedLoss() { noteFailure(error) }
            } else if error.isTransient {
                // The server answers but cannot serve yet (LOADING after a restart, BUSY): back off on the
                // same context. Not a new outage in the log: right after a restart it belongs to the one
                // already logged, and a server that stays busy shows in the callers' own state.
                let now = clock.now
                nextAttempt = now + backoff
                backoff = min(backoff * 2, Self.maxBackoff)
            }
            throw error
        }
    }

    /// Retries `body` through outages until it succeeds or `keepTrying` says stop (then nil).
    /// Server errors (a bug or a WRONGTYPE key) are not retried: they are returned as failure;
    /// LOADING, MASTERDOWN and BUSY are, on the same connection.
    public func performRetrying<T>(while keepTrying: () -> Bool = { true }, _ body: (any RedisClient) throws(RedisError) -> T) -> Result<T, RedisError>? {
        while true {
            do {
                return .success(try perform(body))
            } catch {
                if !error.isRetryable { return .failure(error) }
                if !keepTrying() { return nil }
                waitForNextAttempt()
            }
        }
    }

    /// Sleeps until the next reconnect is due (at most the cap).
    public func waitForNextAttempt() {
        guard let nextAttempt else { return }
        let wait = nextAttempt - clock.now
        // Rounded up: waking a hair early would only meet the backoff and spin.
        if wait > .zero { usleep(UInt32((min(wait, Self.maxBackoff).seconds * 1_000_000).rounded(.up))) }
    }

    private func noteFailure(_ error: RedisError) {
        let now = clock.now
        if downSince == nil {
            downSince = now
            logger.warning("\(LogEvents.redisDown)", metadata: ["redis": "\(connection.endpoint)", "error": "\(error)"])
        }
        nextAttempt = now + backoff
        backoff = min(backoff * 2, Self.maxBackoff)
    }

    private func noteSuccess() {
        if let downSince {
            let lasted = clock.now - downSince
            var metadata: Logger.Metadata = ["redis": "\(connection.endpoint)", "down_for": "\(String(format: "%.1f", lasted.seconds))s"]
            if connection.endpoint.sentinel != nil, let address = connection.address { metadata["redis.master"] = "\(address)" }
            logger.info("\(LogEvents.redisUp)", metadata: metadata)
            outagesEnded += 1
        }
        downSince = nil
        nextAttempt = nil
        backoff = .milliseconds(100)
    }
}

/// Connects at start-up, retrying a few times while the server is unreachable. Bad credentials
/// fail at once. Used by both executables to decide exit code 69.
public func connectAtStartup(_ connection: any RedisClient, attempts: Int = 5) throws(RedisError) {
    var delay: useconds_t = 200_000
    for attempt in 1...max(1, attempts) {
        do {
            try connection.connect()
            return
        } catch {
            if case .authentication = error { throw error }
            if case .server = error { throw error }
            if attempt == attempts { throw error }
            usleep(delay)
            delay = min(delay * 2, 2_000_000)
        }
    }
}
