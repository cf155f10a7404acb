import Foundation

/// How long this host's slot leases are surely still ours, by our own monotonic clock, and what
/// that allows. A lease renewed by a request sent at `s` lives in Redis until at least `s + ttl`
/// (the server counts from when it runs the request, which is later, and keeps the expiry as an
/// absolute time, so a restart with persistence does not extend it), so until then no other host
/// can take it. A renewal that fails (Redis down, restarting, failing over, or this host cut off)
/// only stops new workers: the running ones keep running until `killAt`, the last moment before
/// another host could hold their slots. Pure: the caller passes the instants.
public struct LeaseClock: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        /// The last renewal succeeded (or nothing held yet): workers may start.
        case confirmed
        /// The last renewal failed: start no worker; the running ones keep their slots, which no
        /// other host can take before `validUntil`.
        case unconfirmed
        /// At most `killMargin` left: every worker must be gone before another host may take its slot.
        case expired
    }

    public let ttl: Duration
    /// Time left at which the workers are SIGKILLed: they must have exited, not just been signalled, by the expiry.
    public let killMargin: Duration
    /// When the last successful renewal was sent (nil: none yet).
    public private(set) var renewedAt: ContinuousClock.Instant?
    /// When the current run of failed renewals began (nil: the last renewal succeeded).
    public private(set) var failingSince: ContinuousClock.Instant?

    public init(ttl: Duration, killMargin: Duration = .seconds(1)) {
        self.ttl = ttl
        self.killMargin = min(killMargin, ttl / 4)
    }

    /// How often leases are renewed at least (whatever the poll interval).
    public var renewalPeriod: Duration { min(.seconds(1), ttl / 4) }

    /// How often a host holding no lease (no worker, no job waiting) renews its membership: half
    /// the TTL, at most 7.5 s (7.5 s at the default 15 s). Its record expires one TTL after its
    /// last renewal, so Redis may be away for up to half the TTL (a restart, a failover) before it
    /// lapses; a dead idle host counts in the others' split for at most one TTL, as a busy one
    /// does (the period changes how often it writes, not when its record expires). At most 7.5 s:
    /// an idle host also reads the fleet (hosts joined, leases taken) only this often between its
    /// own scale-ups, and it renews in full before planning as soon as jobs wait.
    public var idleRenewalPeriod: Duration { max(renewalPeriod, min(.milliseconds(7500), ttl / 2)) }

    /// A renewal sent at `sentAt` succeeded. Returns when the failures it ends began (nil: none).
    @discardableResult
    public mutating func renewed(sentAt: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        if renewedAt.map({ sentAt > $0 }) ?? true { renewedAt = sentAt }
        defer { failingSince = nil }
        return failingSince
    }

    /// A renewal sent at `sentAt` failed. True for the first failure of a run (the one to log).
    @discardableResult
    public mutating func renewalFailed(at sentAt: ContinuousClock.Instant) -> Bool {
        guard failingSince == nil else { return false }
        failingSince = sentAt
        return true
    }

    /// Until when our leases surely exist in Redis.
    public var validUntil: ContinuousClock.Instant? { renewedAt.map { $0 + ttl } }
    /// When the workers must be killed (nil: no renewal yet, so no lease either).
    public var killAt: ContinuousClock.Instant? { validUntil.map { $0 - killMargin } }

    public func state(at now: ContinuousClock.Instant) -> State {
        if let killAt, now >= killAt { return .expired }
        return failingSince == nil ? .confirmed : .unconfirmed
    }

    /// New workers start only under leases Redis has just confirmed.
    public func mayStartWorkers(at now: ContinuousClock.Instant) -> Bool { state(at: now) == .confirmed }

    /// The longest Redis outage that surely changes no worker: one beginning just before a renewal
    /// was due ends, and the link notices (within `RedisLink.maxBackoff`), before `killAt`.
    public var outageRiddenOut: Duration { ttl - killMargin - renewalPeriod - RedisLink.maxBackoff }
}
