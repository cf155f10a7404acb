/// Every Redis key the product uses, in one place (documented in the README).
public struct QueueKeys: Sendable, Equatable {
    public let prefix: String
    public let queue: String

    public init(prefix: String, queue: String) {
        self.prefix = prefix
        self.queue = queue
    }

    /// `fila:q`: producers `LPUSH`, workers pop from the right.
    public var pending: String { prefix + queue }
    /// `fila:q:processing:<worker-id>`: the job a worker holds.
    public func processing(_ workerID: String) -> String { "\(pending):processing:\(workerID)" }
    public var processingPattern: String { "\(pending):processing:*" }
    public var processingPrefix: String { "\(pending):processing:" }
    /// `fila:q:results`: one JSON record per finished job.
    public var results: String { "\(pending):results" }
    /// `fila:q:dead`: jobs that failed `--max-attempts` times.
    public var dead: String { "\(pending):dead" }
    /// `fila:q:retry`: sorted set of failed jobs waiting for their retry time (score = due, ms).
    public var retry: String { "\(pending):retry" }
    /// `orchestrator:fila:stats:<queue>`: hash with `done`, `failed`, `dead` counters.
    public var stats: String { Self.namespace(prefix) + "stats:\(queue)" }
    /// `orchestrator:fila:worker:<worker-id>`: a worker's heartbeat hash (TTL 10 s).
    public func heartbeat(_ workerID: String) -> String { Self.heartbeat(prefix: prefix, workerID) }

    /// Orchestrator keys are namespaced by the queue prefix, so deployments sharing a Redis with
    /// different prefixes never see each other: `orchestrator:<prefix>`.
    public static func namespace(_ prefix: String) -> String { "orchestrator:\(prefix)" }
    public static func heartbeat(prefix: String, _ workerID: String) -> String { namespace(prefix) + "worker:\(workerID)" }
    public static func heartbeatPattern(prefix: String) -> String { namespace(prefix) + "worker:*" }
    /// `orchestrator:fila:paused`: set of paused queue names (`orchestrator pause`).
    public static func paused(prefix: String) -> String { namespace(prefix) + "paused" }
    /// `orchestrator:fila:events`: stream of what happened (scale decisions, worker exits, alerts…).
    public static func events(prefix: String) -> String { namespace(prefix) + "events" }
    /// `orchestrator:fila:history:<queue>`: stream, one sample a minute (`QueueHistory`).
    public static func history(prefix: String, queue: String) -> String { namespace(prefix) + "history:\(queue)" }
    /// `orchestrator:fila:alerts`: hash `<rule>:<queue>` → JSON of each active alert; also the PUBLISH channel.
    public static func alerts(prefix: String) -> String { namespace(prefix) + "alerts" }
    /// `orchestrator:fila:rates`: hash, queue → measured rates (`--scaling adaptive`), so a restart is not cold.
    public static func rates(prefix: String) -> String { namespace(prefix) + "rates" }
    /// `orchestrator:fila:result:<job-id>`: the result record of a job with an instance id (string, TTL `--result-ttl`).
    public static func resultByID(prefix: String, _ id: String) -> String { namespace(prefix) + "result:\(id)" }
    /// `orchestrator:fila:instance`: the running orchestrator's heartbeat hash (TTL 10 s).
    public static func instance(prefix: String) -> String { namespace(prefix) + "instance" }

    /// `orchestrator:fila:lengths`: the queue lengths the fleet's leader last published (hash, 10 s TTL).
    public static func lengths(prefix: String) -> String { namespace(prefix) + "lengths" }
    /// The fleet's keys under this prefix (`FleetKeys`).
    public static func fleet(prefix: String) -> FleetKeys { FleetKeys(prefix: prefix) }

    /// The worker id used in key names: `<queue>-<slot>-<host>-<pid>`.
    public static func workerID(queue: String, slot: Int, host: String, pid: Int32) -> String {
        "\(queue)-\(slot)-\(host)-\(pid)"
    }
}

/// The fleet's keys (orchestrators sharing one Redis and prefix), beside the other orchestrator
/// keys: `orchestrator:<prefix>fleet:…`. The orchestrators build them from their prefix, and so do
/// the workers (the fence's epoch and reclaim keys): the same names on both sides.
public struct FleetKeys: Sendable, Equatable {
    public let prefix: String

    public init(prefix: String) { self.prefix = prefix }

    var base: String { QueueKeys.namespace(prefix) + "fleet:" }
    /// `orchestrator:fila:fleet:members`: one field per host id, its member record (JSON with its expiry).
    public var members: String { base + "members" }
    /// `orchestrator:fila:fleet:leases`: the live leases, `<slot>\n<lease>` scored by expiry.
    public var leases: String { base + "leases" }
    /// `orchestrator:fila:fleet:counts`: live leases per queue (`q:<queue>`) and per instance (`i:<host>\n<instance>`).
    public var counts: String { base + "counts" }
    /// `orchestrator:fila:fleet:slot:<n>`: a worker slot's lease (string `<host>\n<instance>\n<queue>`, with an expiry).
    public func slot(_ n: Int) -> String { slotPrefix + "\(n)" }
    public var slotPrefix: String { base + "slot:" }
    /// `orchestrator:fila:fleet:epoch`: written at join, no expiry: its absence tells a rejoining
    /// host (and a fenced worker) that Redis lost the fleet's keys.
    public var epoch: String { base + "epoch" }
    /// `orchestrator:fila:fleet:reclaim`: while it exists (one lease TTL after Redis lost the
    /// fleet's keys), no host takes a new slot.
    public var reclaim: String { base + "reclaim" }
    /// `orchestrator:fila:fleet:lengths`: the channel (not a key) the leader publishes queue lengths on.
    public var lengthsChannel: String { base + "lengths" }
}
