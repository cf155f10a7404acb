/// One live orchestrator of the fleet as the split sees it.
public struct FleetHost: Sendable, Equatable {
    public var id: String
    /// `--host-max-workers`: the most workers this host runs, all queues together.
    public var capacity: Int

    public init(id: String, capacity: Int) {
        self.id = id
        self.capacity = capacity
    }
}

/// How the fleet's workers are spread over its hosts: a pure function every host computes alike
/// from the same inputs, so no host has to ask another. Each queue's count is split in
/// proportion to capacity (largest remainder; the remainders of different queues start at
/// different hosts, by a stable hash of the queue name), then units above a host's capacity move
/// to the host with the most room. Changing one queue's count by one moves one unit of that
/// queue only, so a small change in load does not shuffle workers between hosts.
public enum FleetShare {
    /// Host id → queue → workers. Hosts with no capacity get nothing; units no host has room
    /// for are left out (the fleet's hosts are full).
    public static func split(_ counts: [String: Int], over hosts: [FleetHost]) -> [String: [String: Int]] {
        let live = hosts.filter { $0.capacity > 0 }.sorted { $0.id < $1.id }
        guard !live.isEmpty else { return [:] }
        // shares[i]: what live[i] runs, queue → workers.
        var shares = [[String: Int]](repeating: [:], count: live.count)
        let total = live.reduce(0) { $0 + $1.capacity }
        for (queue, count) in counts.sorted(by: { $0.key < $1.key }) {
            let t = max(0, count)
            var given = live.map { t * $0.capacity / total }
            let rest = t - given.reduce(0, +)
            let start = Int(stableHash(queue) % UInt64(live.count))
            let order = live.indices.sorted { a, b in
                let fa = t * live[a].capacity % total, fb = t * live[b].capacity % total
                if fa != fb { return fa > fb }
                return (a - start + live.count) % live.count < (b - start + live.count) % live.count
            }
            for i in order.prefix(rest) { given[i] += 1 }
            for i in live.indices where given[i] > 0 { shares[i][queue] = given[i] }
        }
        // Capacity: move what a host cannot run to the host with the most room.
        for i in live.indices {
            var over = load(shares[i]) - live[i].capacity
            // The queue this host runs most of gives a unit (ties: by name).
            while over > 0, let q = shares[i].filter({ $0.value > 0 }).max(by: { ($0.value, $1.key) < ($1.value, $0.key) })?.key {
                shares[i][q, default: 0] -= 1
                if shares[i][q] == 0 { shares[i][q] = nil }
                over -= 1
                let roomy = live.indices.filter { load(shares[$0]) < live[$0].capacity }
                    .max { (live[$0].capacity - load(shares[$0]), live[$1].id) < (live[$1].capacity - load(shares[$1]), live[$0].id) }
                if let r = roomy { shares[r][q, default: 0] += 1 }
            }
        }
        return Dictionary(uniqueKeysWithValues: zip(live.map(\.id), shares))
    }

    static func load(_ queues: [String: Int]) -> Int { queues.values.reduce(0, +) }

    /// FNV-1a: the same on every host and every run (Swift's `Hasher` is seeded per process).
    static func stableHash(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }
}
