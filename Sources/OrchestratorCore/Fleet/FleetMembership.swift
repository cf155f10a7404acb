import Foundation

/// A live orchestrator of the fleet, as its host hash says.
public struct FleetMember: Sendable, Equatable {
    public var id: String
    public var capacity: Int
    public var pid: Int
    public var updatedAt: Int64
    public var state: String
    public var workers: Int
    public var machine: String
    public var startedAt: Int64
    /// The fleet-wide settings it runs with (`FleetMembership.caps`).
    public var caps: String = ""
}

/// The fleet as one poll saw it: live hosts and every slot lease.
public struct FleetView: Sendable, Equatable {
    public var hosts: [FleetMember] = []
    /// Index i is slot i + 1: the lease's holder, nil when free.
    public var slots: [LeaseValue?] = []
    /// Our leases that were no longer ours (expired or taken) when renewing.
    public var lost: [Int] = []
    /// Our host hash had expired: we were cut off for longer than the lease time.
    public var rejoined = false
    /// Fleet keys found of the wrong type, replaced by the renewal.
    public var repaired: [KeyFault] = []
    /// We rejoined because Redis lost the fleet's keys (restarted without persistence): the
    /// reclaim window is open, no host takes a new slot until it closes.
    public var reset = false

    public init(hosts: [FleetMember] = [], slots: [LeaseValue?] = []) {
        self.hosts = hosts
        self.slots = slots
    }

    /// Leased slots per queue, all hosts together.
    public var perQueue: [String: Int] { slots.compactMap { $0 }.reduce(into: [:]) { $0[$1.queue, default: 0] += 1 } }
    public var leased: Int { slots.compactMap { $0 }.count }
    public func held(by host: String) -> [String: Int] {
        slots.compactMap { $0 }.filter { $0.host == host }.reduce(into: [:]) { $0[$1.queue, default: 0] += 1 }
    }
    /// The hosts the split is over, by id.
    public var splitHosts: [FleetHost] { hosts.map { FleetHost(id: $0.id, capacity: $0.capacity) } }
    /// Live hosts running other fleet-wide settings than `ours`, by id, with theirs.
    public func hostsWithOtherCaps(than ours: String) -> [String: String] {
        var other: [String: String] = [:]
        for h in hosts where !h.caps.isEmpty && h.caps != ours { other[h.id] = h.caps }
        return other
    }
    /// The leader writes the fleet-wide records (instance hash, history, alerts): the smallest live id.
    public var leader: String? { hosts.map(\.id).min() }
}

/// A slot lease's value in Redis: `<host id>\n<instance>\n<queue>` (no part contains a newline).
public struct LeaseValue: Sendable, Equatable {
    public var host: String
    public var instance: String
    public var queue: String

    public init(host: String, instance: String, queue: String) {
        self.host = host
        self.instance = instance
        self.queue = queue
    }

    public init?(encoded: String) {
        let parts = encoded.split(separator: "\n", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3 else { return nil }
        self.init(host: parts[0], instance: parts[1], queue: parts[2])
    }

    public var encoded: String { "\(host)\n\(instance)\n\(queue)" }
}

/// This orchestrator's membership of the fleet of its prefix: joining under a host id, the
/// per-poll renewal (host hash and slot leases) with the fleet view, and taking and giving back
/// slot leases. Every step is one Lua script, so hosts never decide on a read-then-write.
public struct FleetMembership: Sendable {
    public enum JoinResult: Sendable, Equatable {
        case joined
        /// Another live instance holds the host id.
        case held(pid: Int, machine: String, instance: String)
        /// A live host runs with other caps.
        case capsDiffer(host: String, caps: String)
    }

    public enum TickResult: Sendable, Equatable {
        case view(FleetView)
        /// Another instance took our host id while we were cut off.
        case taken(by: String)
    }

    public let prefix: String
    public let hostID: String
    public let instance: String
    public let machine: String
    public let settings: FleetSettings
    public let policy: ScalingPolicy

    public init(prefix: String, settings: FleetSettings, policy: ScalingPolicy, machine: String = WallClock.hostName(),
                instance: String = "\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 16))") {
        self.prefix = prefix
        self.hostID = settings.hostID
        self.instance = instance
        self.machine = machine
        self.settings = settings
        self.policy = policy
    }

    var ns: String { QueueKeys.namespace(prefix) }
    public var hostKey: String { Self.hostKey(prefix: prefix, hostID) }
    public var hostsKey: String { Self.hostsKey(prefix: prefix) }
    var fleetKeys: FleetKeys { QueueKeys.fleet(prefix: prefix) }
    var hostPrefix: String { fleetKeys.hostPrefix }
    var slotPrefix: String { fleetKeys.slotPrefix }
    var ttlMilliseconds: String { "\(settings.leaseTTL.milliseconds)" }
    public static func hostKey(prefix: String, _ id: String) -> String { QueueKeys.fleet(prefix: prefix).host(id) }
    public static func hostsKey(prefix: String) -> String { QueueKeys.fleet(prefix: prefix).hosts }
    /// Written at join, no expiry: its absence tells a rejoining host that Redis lost the fleet's keys.
    public var epochKey: String { fleetKeys.epoch }
    /// While it exists (one lease TTL after Redis lost the fleet's keys), no host takes a new slot.
    public var reclaimKey: String { fleetKeys.reclaim }

    /// The fleet-wide settings every host must share: joining with others is refused.
    public var caps: String {
        "max_total=\(policy.maxTotal) max_per_queue=\(policy.maxPerQueue) min_per_queue=\(policy.minPerQueue) jobs_per_worker=\(policy.jobsPerWorker)"
    }

    public func lease(_ queue: String) -> LeaseValue { LeaseValue(host: hostID, instance: instance, queue: queue) }

    /// Joins; `replacing` is the instance of a dead orchestrator with our host id on this machine.
    /// `repaired` hears of fleet keys found of the wrong type (replaced).
    public func join(_ redis: any RedisClient, replacing: String? = nil, repaired: (KeyFault) -> Void = { _ in }) throws(RedisError) -> JoinResult {
        let fields: [RedisArg] = ["pid", RedisArg("\(getpid())"), "machine", RedisArg(machine), "capacity", RedisArg("\(settings.hostMaxWorkers)"),
                                  "started_at", RedisArg("\(WallClock.nowMilliseconds())"), "updated_at", RedisArg("\(WallClock.nowMilliseconds())"),
                                  "state", "running", "workers", "0"]
        let reply = try redis.eval(FleetScripts.join, keys: [hostKey, hostsKey, epochKey],
                                   args: [RedisArg(instance), RedisArg(ttlMilliseconds), RedisArg(hostPrefix), RedisArg(caps),
                                          RedisArg(replacing ?? ""), RedisArg(hostID)] + fields)
        let parts = (reply.array ?? []).map { $0.text ?? "" }
        switch parts.first {
        case "held": return .held(pid: Int(parts[1]) ?? 0, machine: parts[2], instance: parts[3])
        case "caps": return .capsDiffer(host: parts[1], caps: parts[2])
        default:
            if let list = reply.array, list.count > 1 { KeyFault.list(list[1]).forEach(repaired) }
            return .joined
        }
    }

    /// One poll's renewal and view (`FleetScripts.tick`); the script is reloaded if the server lost it (a restart).
    /// `renewedBefore`: our membership was renewed before, so a host hash found gone means we
    /// rejoin, and the fleet's epoch key found gone means Redis lost the fleet's keys.
    public func tick(_ redis: any RedisClient, leases: [(slot: Int, queue: String)], fields: [(String, String)],
                     renewedBefore: Bool = true) throws(RedisError) -> RedisReply {
        try redis.eval(FleetScripts.tick, keys: renewedBefore ? [hostKey, hostsKey, epochKey, reclaimKey] : [hostKey, hostsKey], args: tickArgs(leases: leases, fields: fields))
    }

    func tickArgs(leases: [(slot: Int, queue: String)], fields: [(String, String)]) -> [RedisArg] {
        var args: [RedisArg] = [RedisArg(instance), RedisArg(ttlMilliseconds), RedisArg(hostPrefix), RedisArg(slotPrefix),
                                RedisArg("\(policy.maxTotal)"), RedisArg(hostID), RedisArg(caps), RedisArg("\(leases.count)")]
        for l in leases { args += [RedisArg("\(l.slot)"), RedisArg(lease(l.queue).encoded)] }
        for (k, v) in fields { args += [RedisArg(k), RedisArg(v)] }
        return args
    }

    /// Reads a tick's reply.
    public static func parseTick(_ reply: RedisReply) -> TickResult? {
        guard let parts = reply.array, let tag = parts.first?.text else { return nil }
        if tag == "taken" { return .taken(by: parts.count > 1 ? parts[1].text ?? "" : "") }
        guard tag == "ok", parts.count >= 5 else { return nil }
        var view = FleetView()
        view.rejoined = parts[1].int == 1
        view.lost = (parts[2].array ?? []).compactMap(\.int)
        for h in parts[3].array ?? [] {
            let f = (h.array ?? []).map { $0.text ?? "" }
            guard f.count >= 8 else { continue }
            view.hosts.append(FleetMember(id: f[0], capacity: Int(f[1]) ?? 0, pid: Int(f[2]) ?? 0, updatedAt: Int64(f[3]) ?? 0, state: f[4],
                                          workers: Int(f[5]) ?? 0, machine: f[6], startedAt: Int64(f[7]) ?? 0, caps: f.count > 8 ? f[8] : ""))
        }
        view.hosts.sort { $0.id < $1.id }
        view.slots = (parts[4].array ?? []).map { $0.text.flatMap { $0.isEmpty ? nil : LeaseValue(encoded: $0) } }
        view.repaired = parts.count > 5 ? KeyFault.list(parts[5]) : []
        view.reset = parts.count > 6 && parts[6].int == 1
        return .view(view)
    }

    /// Takes up to `count` slot leases for `queue`; returns the slot numbers taken.
    public func acquire(_ redis: any RedisClient, queue: String, count: Int) throws(RedisError) -> [Int] {
        try grant(redis, queue: queue, count: count).slots
    }

    /// Takes up to `count` slot leases for `queue`: the slots taken, and why fewer.
    public func grant(_ redis: any RedisClient, queue: String, count: Int) throws(RedisError) -> SlotGrant {
        let ours = lease(queue).encoded
        let reply = try redis.eval(FleetScripts.acquire, keys: [reclaimKey],
                                   args: [RedisArg(slotPrefix), RedisArg("\(policy.maxTotal)"), RedisArg(ours), RedisArg(queue),
                                          RedisArg("\(policy.maxPerQueue)"), RedisArg("\(count)"), RedisArg(ttlMilliseconds),
                                          RedisArg(hostID + "\n"), RedisArg(hostID + "\n" + instance + "\n")])
        return SlotGrant.parse(reply, wanted: count)
    }

    /// Gives back leases still ours. Returns how many were.
    @discardableResult
    public func release(_ redis: any RedisClient, _ leases: [(slot: Int, queue: String)]) throws(RedisError) -> Int {
        guard !leases.isEmpty else { return 0 }
        var args: [RedisArg] = [RedisArg(slotPrefix)]
        for l in leases { args += [RedisArg("\(l.slot)"), RedisArg(lease(l.queue).encoded)] }
        return try redis.eval(FleetScripts.release, keys: [], args: args).int ?? 0
    }

    /// Leaves the fleet (at the end of a drain).
    public func leave(_ redis: any RedisClient) throws(RedisError) {
        _ = try redis.eval(FleetScripts.leave, keys: [hostKey, hostsKey, epochKey], args: [RedisArg(instance), RedisArg(hostID)])
    }
}

/// What one `acquire` gave: the slots taken, and why fewer than asked.
public struct SlotGrant: Sendable, Equatable {
    public enum Shortfall: Sendable, Equatable {
        case none
        /// Redis lost the fleet's keys: no new slot for anyone while hosts take back their running workers' slots.
        case reclaiming(left: Duration)
        /// The fleet already runs `--max-per-queue` workers of this queue.
        case maxPerQueue
        /// Every one of the fleet's `--max-total` slots is leased; `previousInstance`: some are
        /// still held by an earlier instance of our host id (killed without leaving), until they expire.
        case maxTotal(previousInstance: Duration?)
    }

    public var slots: [Int]
    public var shortfall: Shortfall

    public init(slots: [Int], shortfall: Shortfall) {
        self.slots = slots
        self.shortfall = shortfall
    }

    static func parse(_ reply: RedisReply, wanted: Int) -> SlotGrant {
        guard let parts = reply.array, parts.count >= 3 else { return SlotGrant(slots: [], shortfall: .none) }
        let slots = (parts[0].array ?? []).compactMap(\.int)
        let ms = parts[2].int ?? -1
        let left: Duration? = ms >= 0 ? .milliseconds(ms) : nil
        switch parts[1].text ?? "" {
        case "reclaim": return SlotGrant(slots: slots, shortfall: .reclaiming(left: left ?? .zero))
        case "max_per_queue": return SlotGrant(slots: slots, shortfall: .maxPerQueue)
        case "max_total": return SlotGrant(slots: slots, shortfall: .maxTotal(previousInstance: left))
        default: return SlotGrant(slots: slots, shortfall: .none)
        }
    }
}
