import Foundation

/// One message of the fleet's length feed (`orchestrator:<prefix>fleet:lengths`), published by
/// the leader: queue lengths (and keys the server refused to read), and the paused set.
/// Text payload, one line each, names percent-encoded (a queue name may hold a tab or a newline):
/// `full` or `delta`, then `q<TAB>queue<TAB>length`, `e<TAB>queue<TAB>error`, and in a full
/// snapshot or when it changed `paused` followed by `p<TAB>queue` per paused queue.
public struct LengthFeedMessage: Sendable, Equatable {
    /// A full snapshot names every queue the leader watches (and the paused set); a delta only changes.
    public var isFull: Bool
    public var lengths: [String: Int] = [:]
    public var errors: [String: String] = [:]
    /// nil: unchanged since the last message.
    public var paused: Set<String>?

    public init(isFull: Bool, lengths: [String: Int] = [:], errors: [String: String] = [:], paused: Set<String>? = nil) {
        self.isFull = isFull; self.lengths = lengths; self.errors = errors; self.paused = paused
    }

    public var isEmpty: Bool { !isFull && lengths.isEmpty && errors.isEmpty && paused == nil }

    public var encoded: String {
        var lines = [isFull ? "full" : "delta"]
        for (q, n) in lengths.sorted(by: { $0.key < $1.key }) { lines.append("q\t\(PercentEncoding.encode(q))\t\(n)") }
        for (q, e) in errors.sorted(by: { $0.key < $1.key }) { lines.append("e\t\(PercentEncoding.encode(q))\t\(PercentEncoding.encode(e))") }
        if let paused {
            lines.append("paused")
            for q in paused.sorted() { lines.append("p\t\(PercentEncoding.encode(q))") }
        }
        return lines.joined(separator: "\n")
    }

    /// nil for a payload this version does not understand (ignored by the subscriber).
    public init?(decoding text: String) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        guard let head = lines.first, head == "full" || head == "delta" else { return nil }
        self.init(isFull: head == "full")
        for line in lines.dropFirst() {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false)
            switch f.first {
            case "q" where f.count == 3:
                guard let n = Int(f[2]) else { return nil }
                lengths[PercentEncoding.decode(f[1])] = n
            case "e" where f.count == 3: errors[PercentEncoding.decode(f[1])] = PercentEncoding.decode(f[2])
            case "paused" where f.count == 1: paused = paused ?? []
            case "p" where f.count == 2: paused = (paused ?? []).union([PercentEncoding.decode(f[1])])
            default: return nil
            }
        }
    }
}

/// What the length feed's subscriber thread posts to the supervisor.
public enum LengthFeedEvent: Sendable, Equatable {
    /// A message of the leader's feed.
    case message(LengthFeedMessage)
    /// A keyspace notification for a watched key (the key's name): the leader reads it again.
    case touched(String)
    /// The subscriber is (again) connected and subscribed: messages published before were missed.
    case subscribed
    /// The subscriber's connection dropped (the error); it reconnects by itself.
    case lost(String)
    /// The server confirmed every keyspace channel asked for: notifications flow from now on,
    /// so a change made before (a push between the leader's last snapshot and the subscription)
    /// is only seen by a snapshot read after this.
    case keyspaceSubscribed
}

/// `notify-keyspace-events` flags the leader needs: K (keyspace channels), l (list commands:
/// LPUSH, RPUSH, LPOP, RPOP, LMOVE, BLMOVE… each emit on the key they change), g (DEL, RENAME,
/// EXPIRE), s (SADD, SREM of the paused set). `A` stands for all the type classes.
public enum KeyspaceFlags {
    public static func missing(in value: String) -> String {
        var missing = value.contains("K") ? "" : "K"
        if !value.contains("A") { missing += "lgs".filter { !value.contains($0) } }
        return missing
    }
}
