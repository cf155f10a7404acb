import Foundation

/// One alert as the orchestrator publishes it: in the active set (`orchestrator:<prefix>alerts`,
/// hash `<rule>:<queue>` → this JSON), on the PUBLISH channel, in the events stream and on the
/// stdin of `--alert-command`. Written by the alert delivery, read by `status`, `alerts` and the
/// dashboard. Times are ISO 8601 UTC. Fields a reader does not find (another version's record)
/// read as nil.
public struct AlertRecord: Sendable, Equatable, Codable {
    public var rule: String?
    public var queue: String?
    /// `fired`, `repeated` or `resolved`.
    public var state: String?
    /// `critical` or `warning`.
    public var severity: String?
    public var message: String?
    public var since: String?
    public var at: String?
    /// The `--host-id` of the orchestrator that published it.
    public var host: String?

    public init(rule: String?, queue: String?, state: String?, severity: String?, message: String?, since: String?, at: String?, host: String?) {
        self.rule = rule; self.queue = queue; self.state = state; self.severity = severity
        self.message = message; self.since = since; self.at = at; self.host = host
    }

    public init() {}

    /// Decodes a stored record; nil when it is not a JSON object.
    public init?(json: String) {
        guard let record = try? JSONDecoder().decode(Self.self, from: Data(json.utf8)) else { return nil }
        self = record
    }

    /// The JSON object, keys in the order published since 0.3 (absent fields left out).
    public var json: String {
        var w = JSONObjectWriter()
        for (key, value) in [(CodingKeys.rule, rule), (.queue, queue), (.state, state), (.severity, severity), (.message, message),
                             (.since, since), (.at, at), (.host, host)] where value != nil {
            w.string(key.stringValue, value)
        }
        return w.text
    }

    /// `rule queue`, either left out when empty: what `status` and `alerts` name an alert by.
    public var subject: String { [rule, queue].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: " ") }
}
