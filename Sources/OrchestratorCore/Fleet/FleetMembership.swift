import Foundation

/// This orchestrator's membership of the fleet of its prefix: joining under a host id, the
/// renewal (member record and slot leases) with the fleet view, and taking and giving back
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

    /// The hash of member records, one field per host id.
    public var membersKey: String { Self.membersKey(prefix: prefix) }
    /// The sorted set of live leases (`<slot>\n<lease>` by expiry) and the hash of their counts.
    public var leasesKey: String { fleetKeys.leases }
    public var countsKey: String { fleetKeys.counts }
    var fleetKeys: FleetKeys { QueueKeys.fleet(prefix: prefix) }
    var slotPrefix: String { fleetKeys.slotPrefix }
    var ttlMilliseconds: String { "\(settings.leaseTTL.milliseconds)" }
    public static func membersKey(prefix: String) -> String { QueueKeys.fleet(prefix: prefix).members }
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
    public func join(_ redis: any RedisClient, replacing: String? = nil, info: MemberInfo? = nil,
                     repaired: (KeyFault) -> Void = { _ in }) throws(RedisError) -> JoinResult {
        var body = info ?? MemberInfo()
        if info == nil {
            body.pid = Int(getpid())
            body.machine = machine
            body.capacity = settings.hostMaxWorkers
            body.startedAt = WallClock.nowMilliseconds()
            body.updatedAt = body.startedAt
        }
        let reply = try redis.eval(FleetScripts.join, keys: [membersKey, epochKey],
                                   args: [RedisArg(instance), RedisArg(ttlMilliseconds), RedisArg(caps), RedisArg(replacing ?? ""),
                                          RedisArg(hostID), RedisArg(body.encoded)])
        let parts = (reply.array ?? []).map { $0.text ?? "" }
        switch parts.first {
        case "held":
            let other = parts.count > 1 ? FleetMember(id: hostID, record: parts[1]) : nil
            return .held(pid: other?.pid ?? 0, machine: other?.machine ?? "", instance: other?.instance ?? "")
        case "caps": return .capsDiffer(host: parts[1], caps: parts[2])
        default:
            if let list = reply.array, list.count > 1 { KeyFault.list(list[1]).forEach(repaired) }
            return .joined
        }
    }

    /// One renewal and view (`FleetScripts.tick`); the script is reloaded if the server lost it (a restart).
    /// `renewedBefore`: our membership was renewed before, so a member record found gone means we
    /// rejoin, and the fleet's epoch key found gone means Redis lost the fleet's keys.
    /// `membershipOnly` (a host holding no lease): the member record only, no lease sweep, no
    /// counts read (the view's counts come back empty and `countsRead` false).
    public func tick(_ redis: any RedisClient, leases: [(slot: Int, queue: String)], info: MemberInfo,
                     renewedBefore: Bool = true, membershipOnly: Bool = false) throws(RedisError) -> RedisReply {
        let keys = [membersKey, leasesKey, countsKey] + (renewedBefore ? [epochKey, reclaimKey] : [])
        return try redis.eval(FleetScripts.tick, keys: keys, args: tickArgs(leases: membershipOnly ? [] : leases, info: info, membershipOnly: membershipOnly))
    }

    func tickArgs(leases: [(slot: Int, queue: String)], info: MemberInfo, membershipOnly: Bool = false) -> [RedisArg] {
        var args: [RedisArg] = [RedisArg(instance), RedisArg(ttlMilliseconds), RedisArg(slotPrefix), RedisArg(hostID), RedisArg(caps),
                                RedisArg(info.encoded), RedisArg(membershipOnly ? "-1" : "\(leases.count)")]
        for l in leases { args += [RedisArg("\(l.slot)"), RedisArg(lease(l.queue).encoded)] }
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
            guard f.count >= 2, let member = FleetMember(id: f[0], record: f[1]) else { continue }
            view.hosts.append(member)
        }
        view.hosts.sort { $0.id < $1.id }
        let counts = (parts[4].array ?? []).map { $0.text ?? "" }
        for i in stride(from: 0, to: counts.count - 1, by: 2) {
            guard let n = Int(counts[i + 1]), n > 0 else { continue }
            if counts[i].hasPrefix("q:") { view.leasedPerQueue[String(counts[i].dropFirst(2))] = n }
            if counts[i].hasPrefix("i:") { view.leasedByInstance[String(counts[i].dropFirst(2))] = n }
        }
        view.repaired = parts.count > 5 ? KeyFault.list(parts[5]) : []
        view.reset = parts.count > 6 && parts[6].int == 1
        view.countsRead = !(parts.count > 7 && parts[7].int == 1)
        return .view(view)
    }

    /// The live members of the fleet of `prefix` (two commands: the server's time and the members
    /// hash), for readers such as `status`; expired records are left out.
    public static func members(_ redis: any RedisClient, prefix: String) throws(RedisError) -> [FleetMember] {
        let time = (try redis.send(["TIME"]).array ?? []).compactMap { $0.text.flatMap { Int64($0) } }
        let now = time.count == 2 ? time[0] * 1000 + time[1] / 1000 : WallClock.nowMilliseconds()
        let fields = try redis.send(["HGETALL", RedisArg(membersKey(prefix: prefix))]).fields
        return fields.compactMap { FleetMember(id: $0.key, record: $0.value) }.filter { $0.expiresAt > now }.sorted { $0.id < $1.id }
    }

    /// Takes up to `count` slot leases for `queue`; returns the slot numbers taken.
    public func acquire(_ redis: any RedisClient, queue: String, count: Int) throws(RedisError) -> [Int] {
        try grant(redis, queue: queue, count: count).slots
    }

    /// Takes up to `count` slot leases for `queue`: the slots taken, and why fewer.
    public func grant(_ redis: any RedisClient, queue: String, count: Int) throws(RedisError) -> SlotGrant {
        let ours = lease(queue).encoded
        let reply = try redis.eval(FleetScripts.acquire, keys: [reclaimKey, leasesKey, countsKey],
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
        return try redis.eval(FleetScripts.release, keys: [leasesKey, countsKey], args: args).int ?? 0
    }

    /// Leaves the fleet (at the end of a drain).
    public func leave(_ redis: any RedisClient) throws(RedisError) {
        _ = try redis.eval(FleetScripts.leave, keys: [membersKey, epochKey], args: [RedisArg(instance), RedisArg(hostID)])
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
