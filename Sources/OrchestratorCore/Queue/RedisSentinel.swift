import Foundation

/// Where Redis Sentinel runs and which master it watches (`--redis-sentinel`,
/// `--redis-sentinel-master`, `REDIS_SENTINEL_PASSWORD`). With it, the master's address is asked
/// of the sentinels at every connect and reconnect; the host and port of `--redis-url` are unused.
public struct SentinelSettings: Sendable, Equatable {
    public struct Address: Sendable, Equatable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public init(host: String, port: Int) { self.host = host; self.port = port }
        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    public var addresses: [Address]
    public var masterName: String
    /// The password of the sentinels themselves (`requirepass` in sentinel.conf); never logged.
    public var password: String?

    public init(addresses: [Address], masterName: String, password: String? = nil) {
        self.addresses = addresses; self.masterName = masterName; self.password = password
    }

    /// `HOST:PORT[,HOST:PORT…]` (IPv6 as `[::1]:26379`). Returns a message on bad input.
    public static func parseAddresses(_ text: String) -> Result<[Address], SentinelAddressError> {
        var out: [Address] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let item = String(part).trimmingSpaces
            guard let colon = item.lastIndex(of: ":"), colon != item.startIndex else {
                return .failure(.init(message: "expected HOST:PORT[,HOST:PORT…], got '\(item)'"))
            }
            var host = String(item[..<colon])
            let portText = item[item.index(after: colon)...]
            guard let port = Int(portText), (1...65535).contains(port) else {
                return .failure(.init(message: "port must be 1-65535, got '\(portText)' in '\(item)'"))
            }
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            if host.isEmpty || host.contains(where: { $0 == " " || $0 == "/" || $0 == "@" }) || (host.contains(":") && !item.hasPrefix("[")) {
                return .failure(.init(message: "bad host in '\(item)' (IPv6 goes in brackets: [::1]:26379)"))
            }
            out.append(Address(host: host, port: port))
        }
        return .success(out)
    }

    /// The list as given, for logs and for a worker's `REDIS_SENTINELS`.
    public var addressList: String { addresses.map(\.description).joined(separator: ",") }
}

public struct SentinelAddressError: Error, Sendable, Equatable { public let message: String }

/// Asks the sentinels, in turn, where the master is: `AUTH` first when a sentinel password is
/// set, then `SENTINEL get-master-addr-by-name NAME`; the first answer wins.
public enum SentinelDiscovery {
    public static func masterAddress(_ settings: SentinelSettings, timeout: Duration) throws(RedisError) -> SentinelSettings.Address {
        var problems: [String] = []
        var authFailed = false
        for sentinel in settings.addresses {
            let endpoint = RedisEndpoint(host: sentinel.host, port: sentinel.port, db: 0, password: settings.password)
            let connection = RedisConnection(endpoint: endpoint, connectTimeout: timeout, commandTimeout: timeout)
            defer { connection.close() }
            do {
                try connection.connect()
                let reply = try connection.send(["SENTINEL", "get-master-addr-by-name", RedisArg(settings.masterName)])
                guard case .array(let items) = reply, items.count == 2, let host = items[0].text,
                      let portText = items[1].text, let port = Int(portText) else {
                    problems.append("\(sentinel): does not know master '\(settings.masterName)'")
                    continue
                }
                return SentinelSettings.Address(host: host, port: port)
            } catch {
                if case .authentication = error { authFailed = true }
                if case .server(let m) = error, m.hasPrefix("NOAUTH") || m.hasPrefix("WRONGPASS") { authFailed = true }
                problems.append("\(sentinel): \(error)")
            }
        }
        let summary = "no sentinel gave the address of master '\(settings.masterName)' (\(problems.joined(separator: "; ")))"
        // Wrong sentinel credentials do not heal by retrying; anything else may (sentinels restarting).
        if authFailed && problems.count == settings.addresses.count { throw .authentication("sentinel: " + summary) }
        throw .connection(code: -1, message: summary)
    }

    /// A server error that says we are talking to a replica (a demoted master): the connection
    /// must be dropped and the master asked of the sentinels (or DNS) again. Inside a script the
    /// reply carries the code after a dash; a pop blocked when the master was demoted is ended
    /// with UNBLOCKED.
    public static func isReadOnlyError(_ message: String) -> Bool {
        message.hasPrefix("READONLY") || message.contains("-READONLY ") || message.hasPrefix("UNBLOCKED")
    }
}
