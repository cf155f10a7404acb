/// The queues a command works on, named with `--queue` (repeatable) or `QUEUES` (a comma list):
/// one parser for `run` and for the commands that read Redis (`status`, `dead`, `pause`…), as the
/// README says ("queue names are checked as for `run`").
public enum QueueList {
    /// The queues `run` watches when none is named (and the read-only commands' last fallback).
    public static let defaultQueues = ["conferencia", "emissao"]

    /// The queues named, checked (exit 64 naming `--queue` or `--queue (from QUEUES)`); nil when
    /// neither `--queue` nor `QUEUES` is given. `QUEUES` is read only without `--queue`; its
    /// entries are trimmed of spaces and empty ones skipped, but a list with none is an error;
    /// a name given twice is an error.
    public static func named(flags: [String], environment: [String: String]) throws(ConfigError) -> [String]? {
        var queues = flags
        var source = "--queue"
        if flags.isEmpty, let text = environment["QUEUES"] {
            source = "--queue (from QUEUES)"
            queues = text.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmingSpaces }
            if queues.allSatisfy(\.isEmpty) { throw ConfigError(flag: source, message: "the queue list is empty") }
            queues = queues.filter { !$0.isEmpty }
        }
        if queues.isEmpty { return nil }
        for q in queues { try validateQueueName(q, flag: source) }
        if Set(queues).count != queues.count {
            throw ConfigError(flag: source, message: "a queue is listed twice: \(queues.joined(separator: ","))")
        }
        return queues
    }
}
