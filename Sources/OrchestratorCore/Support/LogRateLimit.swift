/// At most one log line per `interval` for a noisy event (refused requests): the line that is
/// let through says how many were held back since the previous one. Pure: the caller passes the time.
public struct LogRateLimit: Sendable {
    public let interval: Duration
    private var lastAt: ContinuousClock.Instant?
    private var held = 0

    public init(interval: Duration) { self.interval = interval }

    /// nil: do not log this one (it is counted); else log it, with the number held back before it.
    public mutating func admit(now: ContinuousClock.Instant) -> Int? {
        if let lastAt, now - lastAt < interval {
            held += 1
            return nil
        }
        lastAt = now
        defer { held = 0 }
        return held
    }
}
