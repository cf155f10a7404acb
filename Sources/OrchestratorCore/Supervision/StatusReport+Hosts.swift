import Foundation

extension StatusReport {
    /// One orchestrator of the fleet (its record in `orchestrator:<prefix>fleet:members`).
    public struct HostRow: Equatable {
        public var id: String
        public var pid: Int
        public var machine: String
        public var state: String
        public var capacity: Int
        public var workers: Int
        /// Queue → workers on this host.
        public var perQueue: [String: Int]
        /// Seconds since its last renewal (it renews every poll; its record expires after --lease-ttl).
        public var lastSeenSeconds: Double
        public var startedAt: Int64
    }

    /// Reads every live host of the fleet (its member records, `FleetMembership.members`).
    static func collectHosts(redis: any RedisClient, prefix: String) throws(RedisError) -> [HostRow] {
        let now = WallClock.nowMilliseconds()
        return try FleetMembership.members(redis, prefix: prefix).map { m in
            HostRow(id: m.id, pid: m.pid, machine: m.machine, state: m.state, capacity: m.capacity, workers: m.workers,
                    perQueue: m.workersPerQueue, lastSeenSeconds: Double(now - (m.updatedAt > 0 ? m.updatedAt : now)) / 1000, startedAt: m.startedAt)
        }
    }

    /// The hosts table of `status`.
    var hostsTable: String {
        guard !hosts.isEmpty else { return "" }
        var rows = [["HOST ID", "PID", "MACHINE", "STATE", "CAPACITY", "WORKERS", "PER QUEUE", "LAST SEEN"]]
        for h in hosts {
            let perQueue = h.perQueue.sorted { $0.key < $1.key }.filter { $0.value > 0 }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            rows.append([h.id, "\(h.pid)", h.machine, h.state, "\(h.capacity)", "\(h.workers)", perQueue.isEmpty ? "-" : perQueue,
                         String(format: "%.1fs ago", max(0, h.lastSeenSeconds))])
        }
        return "\n" + Self.format(rows)
    }
}

/// A host in `status --json` (`hosts`).
struct HostJSON: Encodable {
    var row: StatusReport.HostRow
    enum CodingKeys: String, CodingKey {
        case hostID = "host_id", pid, machine, state, capacity, workers, workersPerQueue = "workers_per_queue", lastSeen = "last_seen_seconds", startedAt = "started_at"
    }
    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(row.id, forKey: .hostID)
        try c.encode(row.pid, forKey: .pid)
        try c.encode(row.machine, forKey: .machine)
        try c.encode(row.state, forKey: .state)
        try c.encode(row.capacity, forKey: .capacity)
        try c.encode(row.workers, forKey: .workers)
        try c.encode(row.perQueue, forKey: .workersPerQueue)
        try c.encode((max(0, row.lastSeenSeconds) * 1000).rounded() / 1000, forKey: .lastSeen)
        try c.encode(row.startedAt > 0 ? WallClock.iso8601(milliseconds: row.startedAt) : nil, forKey: .startedAt)
    }
}
