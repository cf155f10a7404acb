/// How this orchestrator takes part in the fleet of its prefix (`--host-id`, `--host-max-workers`,
/// `--lease-ttl`).
public struct FleetSettings: Sendable, Equatable {
    /// Unique among the live orchestrators of the prefix (default: the hostname).
    public var hostID: String
    /// The most workers this host runs, all queues together (default: `--max-total`).
    public var hostMaxWorkers: Int
    /// A slot lease (and the host's membership) lives this long without renewal.
    public var leaseTTL: Duration

    public init(hostID: String, hostMaxWorkers: Int, leaseTTL: Duration = OptionSpec.leaseTTL.defaultDuration) {
        self.hostID = hostID
        self.hostMaxWorkers = hostMaxWorkers
        self.leaseTTL = leaseTTL
    }

    static func resolve(_ v: OptionValues, _ r: OptionResolver, maxTotal: Int) throws(ConfigError) -> FleetSettings {
        let id = r.string(v, .hostID) ?? WallClock.hostName()
        let source = r.raw(v, .hostID)?.source ?? "--host-id (the hostname)"
        guard !id.isEmpty, id.count <= 64, id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_") }) else {
            throw ConfigError(flag: source, message: "expected 1 to 64 letters, digits, '.', '-' or '_', got '\(id)'")
        }
        let capacity = r.isGiven(v, .hostMaxWorkers) ? try r.int(v, .hostMaxWorkers) : maxTotal
        let ttl = try r.duration(v, .leaseTTL)
        return FleetSettings(hostID: id, hostMaxWorkers: min(capacity, maxTotal), leaseTTL: ttl)
    }
}
