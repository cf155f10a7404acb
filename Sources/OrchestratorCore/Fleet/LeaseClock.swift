import Foundation

/// How long this host's slot leases are surely still ours, by our own monotonic clock. A lease
/// renewed by a request sent at `s` lives in Redis until at least `s + ttl` (the server counts
/// from when it runs the request, which is later), so until then no other host can take it.
/// Pure: the caller passes the instants.
public struct LeaseClock: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        /// Renewed recently (or nothing held yet).
        case valid
        /// No renewal for a while: stop taking new workers and drain ours (at ttl/3 left).
        case expiring
        /// At most `killMargin` left: every worker must be gone before another host may take its slot.
        case expired
    }

    public let ttl: Duration
    /// Time left at which the workers are SIGKILLed: they must have exited, not just been signalled, by the expiry.
    public let killMargin: Duration
    /// When the last successful renewal was sent (nil: none yet).
    public private(set) var renewedAt: ContinuousClock.Instant?

    public init(ttl: Duration, killMargin: Duration = .seconds(1)) {
        self.ttl = ttl
        self.killMargin = min(killMargin, ttl / 4)
    }

    /// A renewal sent at `sentAt` succeeded.
    public mutating func renewed(sentAt: ContinuousClock.Instant) {
        if renewedAt.map({ sentAt > $0 }) ?? true { renewedAt = sentAt }
    }

    /// Until when our leases surely exist in Redis.
    public var validUntil: ContinuousClock.Instant? { renewedAt.map { $0 + ttl } }
    /// When the workers must be killed (nil: no renewal yet, so no lease either).
    public var killAt: ContinuousClock.Instant? { validUntil.map { $0 - killMargin } }

    public func state(at now: ContinuousClock.Instant) -> State {
        guard let until = validUntil else { return .valid }
        let left = until - now
        if left <= killMargin { return .expired }
        if left <= ttl / 3 { return .expiring }
        return .valid
    }
}
