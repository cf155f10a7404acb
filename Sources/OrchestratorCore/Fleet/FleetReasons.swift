/// Why the fleet did something, in the words of its log lines. Pure: the caller passes what it
/// knows (durations, counts), so each sentence is a table test.
public enum RejoinCause: Sendable, Equatable {
    /// Redis lost the fleet's keys (restarted without persistence, or flushed).
    case redisLostKeys
    /// Our host hash was gone although our last renewal was less than a lease TTL ago: it did not expire, it was deleted.
    case hashDeleted(lastRenewal: Duration)
    /// Our membership expired: no renewal succeeded for longer than the lease TTL.
    case cutOff(lastRenewal: Duration?)

    /// `reset`: the renewal found the fleet's epoch key gone (or the reclaim window open);
    /// `sinceLastRenewal`: how long ago our last successful renewal was sent (nil: none before).
    public static func of(reset: Bool, sinceLastRenewal: Duration?, ttl: Duration) -> RejoinCause {
        if reset { return .redisLostKeys }
        if let since = sinceLastRenewal, since < ttl { return .hashDeleted(lastRenewal: since) }
        return .cutOff(lastRenewal: sinceLastRenewal)
    }

    public var why: String {
        switch self {
        case .redisLostKeys:
            return "Redis lost the fleet's keys (restarted without persistence, or flushed): our host hash and every slot lease were gone; each host takes back its running workers' slots and none takes a new one for --lease-ttl"
        case .hashDeleted(let since):
            return "our host hash was gone \(formatDuration(since)) after our last renewal, before it could expire (deleted: FLUSHDB, DEL, or Redis lost its data)"
        case .cutOff(let since?):
            return "our membership had expired: no renewal reached Redis for \(formatDuration(since)), longer than --lease-ttl"
        case .cutOff(nil):
            return "our membership had expired (cut off from Redis for longer than --lease-ttl)"
        }
    }
}

extension SlotGrant.Shortfall {
    /// The `why` of the line that follows a plan's spawns when fewer leases were granted.
    /// `until` renders an instant that far ahead on the wall clock.
    public func why(maxTotal: Int, maxPerQueue: Int, until: (Duration) -> String) -> String {
        switch self {
        case .none:
            return "granted in full"
        case .reclaiming(let left):
            return "Redis lost the fleet's leases (restarted without persistence): no host takes a new slot until \(until(left)) (in \(formatDuration(left))), so every host first takes back the slots its running workers hold"
        case .maxPerQueue:
            return "the fleet already runs --max-per-queue (\(maxPerQueue)) workers of this queue"
        case .maxTotal(let previous?):
            return "all --max-total (\(maxTotal)) slots are leased, some still by an earlier instance of this --host-id that stopped without giving them back: they expire by \(until(previous)) (in \(formatDuration(previous)))"
        case .maxTotal(nil):
            return "all --max-total (\(maxTotal)) slots of the fleet are leased"
        }
    }
}
