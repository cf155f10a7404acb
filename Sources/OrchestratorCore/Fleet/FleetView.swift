import Foundation

/// What a host says of itself in its member record (the JSON after the script's `expires_at`,
/// `instance` and `caps`), rewritten by every renewal.
public struct MemberInfo: Sendable, Equatable, Codable {
    public var pid: Int = 0
    public var machine: String = ""
    /// `--host-max-workers`.
    public var capacity: Int = 0
    public var state: String = "running"
    public var workers: Int = 0
    /// Wall clock (ms) of the host when it wrote the record, and when it started.
    public var updatedAt: Int64 = 0
    public var startedAt: Int64 = 0
    /// The queues it watches (`--queue`), in its order.
    public var queues: [String] = []
    /// Queue → its workers (queues without workers left out).
    public var workersPerQueue: [String: Int] = [:]
    /// Queue → its share of the fleet's target (queues with none left out).
    public var share: [String: Int] = [:]

    public init() {}

    enum CodingKeys: String, CodingKey {
        case pid, machine, capacity, state, workers, updatedAt = "updated_at", startedAt = "started_at", queues
        case workersPerQueue = "workers_per_queue", share
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        pid = (try? c.decode(Int.self, forKey: .pid)) ?? 0
        machine = (try? c.decode(String.self, forKey: .machine)) ?? ""
        capacity = (try? c.decode(Int.self, forKey: .capacity)) ?? 0
        state = (try? c.decode(String.self, forKey: .state)) ?? "?"
        workers = (try? c.decode(Int.self, forKey: .workers)) ?? 0
        updatedAt = (try? c.decode(Int64.self, forKey: .updatedAt)) ?? 0
        startedAt = (try? c.decode(Int64.self, forKey: .startedAt)) ?? 0
        queues = (try? c.decode([String].self, forKey: .queues)) ?? []
        workersPerQueue = (try? c.decode([String: Int].self, forKey: .workersPerQueue)) ?? [:]
        share = (try? c.decode([String: Int].self, forKey: .share)) ?? [:]
    }

    /// The body the scripts append to their head: a JSON object.
    var encoded: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return (try? encoder.encode(self)).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
    }
}

/// A live orchestrator of the fleet, as its member record says.
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
    public var instance: String = ""
    /// Server time (ms) after which the record no longer counts.
    public var expiresAt: Int64 = 0
    /// The queues it watches.
    public var queues: [String] = []
    /// Queue → its workers.
    public var workersPerQueue: [String: Int] = [:]

    public init(id: String, capacity: Int, pid: Int, updatedAt: Int64, state: String, workers: Int, machine: String, startedAt: Int64, caps: String = "") {
        self.id = id
        self.capacity = capacity
        self.pid = pid
        self.updatedAt = updatedAt
        self.state = state
        self.workers = workers
        self.machine = machine
        self.startedAt = startedAt
        self.caps = caps
    }

    /// Reads a member record (`FleetScripts`); nil when it is not one.
    public init?(id: String, record: String) {
        struct Head: Decodable {
            var expires_at: Int64
            var instance: String
            var caps: String
        }
        let data = Data(record.utf8)
        guard let head = try? JSONDecoder().decode(Head.self, from: data), let info = try? JSONDecoder().decode(MemberInfo.self, from: data) else { return nil }
        self.init(id: id, capacity: info.capacity, pid: info.pid, updatedAt: info.updatedAt, state: info.state, workers: info.workers,
                  machine: info.machine, startedAt: info.startedAt, caps: head.caps)
        instance = head.instance
        expiresAt = head.expires_at
        queues = info.queues
        workersPerQueue = info.workersPerQueue
    }
}

/// The fleet as one renewal saw it: live hosts and the fleet's lease counts.
public struct FleetView: Sendable, Equatable {
    public var hosts: [FleetMember] = []
    /// Live slot leases per queue, all hosts together.
    public var leasedPerQueue: [String: Int] = [:]
    /// Live slot leases per holder, keyed `<host id>\n<instance>`.
    public var leasedByInstance: [String: Int] = [:]
    /// Our leases that were no longer ours (expired or taken) when renewing.
    public var lost: [Int] = []
    /// Our member record had expired: we were cut off for longer than the lease time.
    public var rejoined = false
    /// Fleet keys found of the wrong type, replaced by the renewal.
    public var repaired: [KeyFault] = []
    /// We rejoined because Redis lost the fleet's keys (restarted without persistence): the
    /// reclaim window is open, no host takes a new slot until it closes.
    public var reset = false
    /// False after a membership-only renewal (an idle host's): the lease counts were not read,
    /// and the holder keeps the ones it last read.
    public var countsRead = true

    public init(hosts: [FleetMember] = [], leasedPerQueue: [String: Int] = [:]) {
        self.hosts = hosts
        self.leasedPerQueue = leasedPerQueue
    }

    /// Leased slots per queue, all hosts together.
    public var perQueue: [String: Int] { leasedPerQueue }
    public var leased: Int { leasedPerQueue.values.reduce(0, +) }
    /// The queues the live hosts watch, together, sorted.
    public var watchedQueues: [String] { Set(hosts.flatMap(\.queues)).sorted() }
    /// Leases held by instances of `host` other than `instance` (an earlier orchestrator with our id).
    public func leasedByOtherInstances(of host: String, than instance: String) -> Int {
        leasedByInstance.filter { $0.key.hasPrefix(host + "\n") && $0.key != host + "\n" + instance }.values.reduce(0, +)
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

    /// A lease of ours taken (+1) or given back (-1) since the renewal: the counts follow.
    mutating func count(_ lease: LeaseValue, _ delta: Int) {
        let n = (leasedPerQueue[lease.queue] ?? 0) + delta
        leasedPerQueue[lease.queue] = n > 0 ? n : nil
        let holder = lease.host + "\n" + lease.instance
        let m = (leasedByInstance[holder] ?? 0) + delta
        leasedByInstance[holder] = m > 0 ? m : nil
    }
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
