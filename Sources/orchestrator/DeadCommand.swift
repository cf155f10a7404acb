import ArgumentParser
import CLISupport
import Foundation
import OrchestratorCore

/// `orchestrator dead [--json] [--requeue | --delete] [--id ID …] [--purge --yes]`
struct Dead: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List dead-letter jobs; requeue, delete or purge them, all or by job id.",
        discussion: """
        Jobs land in <prefix><queue>:dead after --max-attempts failures. Fix the cause, then \
        requeue them: each goes back to the front of its queue with a fresh attempt count. A job \
        id is as in results and logs: the job's own id when the Python Client enqueued it, else \
        the SHA-1 of the payload (identical plain payloads share it); 8 or more leading characters \
        suffice. Each requeue or delete is atomic.
        """)

    @Flag(help: "Move dead jobs back to their queue (attempts reset): every one, or those named with --id.") var requeue = false
    @Flag(help: "Delete the dead jobs named with --id.") var delete = false
    @Flag(help: "Delete every dead job of the queue(s); needs --yes.") var purge = false
    @Flag(help: "Confirm --purge.") var yes = false
    @Option(name: .customLong("id"), help: ArgumentHelp("A job id (or its first 8+ characters), repeatable.", valueName: "job-id"))
    var ids: [String] = []
    @Flag(help: "Print the entries as JSON (one array of objects).") var json = false
    @Option(help: ArgumentHelp("How many of the newest entries to show per queue (table only).", valueName: "n")) var limit = 10
    @OptionGroup var target: RedisTargetOptions

    func validate() throws {
        if [requeue, delete, purge].filter({ $0 }).count > 1 { throw badConfig("--requeue, --delete and --purge: choose one") }
        if delete && ids.isEmpty { throw badConfig("--delete: name the job(s) with --id") }
        if purge && !ids.isEmpty { throw badConfig("--purge: deletes every dead job; use --delete --id to delete some") }
        if purge && !yes { throw badConfig("--purge: deletes every dead job of the queue(s); add --yes to confirm") }
        for id in ids where id.count < 8 || id.count > 40 || !id.allSatisfy(\.isHexDigit) {
            throw badConfig("--id: '\(TerminalText.safe(id))' is not a job id (8 to 40 hex characters)")
        }
        if limit < 1 { throw badConfig("--limit: must be at least 1, got \(limit)") }
    }

    func run() throws {
        let (connection, prefix, requested) = try target.connect(command: "dead")
        let queues = target.targetQueues(connection, prefix: prefix, requested: requested)
        do {
            // Entries named with --id, per queue; an id that matches nothing is refused before anything changes.
            var named: [String: [DeadLetters.Entry]] = [:]
            if !ids.isEmpty {
                for queue in queues { named[queue] = try DeadLetters(redis: connection, keys: QueueKeys(prefix: prefix, queue: queue)).matching(ids: ids) }
                let found = named.values.joined().map(\.id)
                let unmatched = ids.filter { id in !found.contains { $0.hasPrefix(id.lowercased()) } }
                if !unmatched.isEmpty {
                    throw badConfig("--id: \(unmatched.joined(separator: ", ")) matches no dead job in \(queues.joined(separator: ", ")); nothing was changed")
                }
            }
            try act(on: queues, named: named, connection: connection, prefix: prefix)
        } catch let exit as ExitCode {
            throw exit
        } catch {
            FileHandle.standardError.write(Data(TerminalText.safe("dead: \(error)\n", keepingNewlines: true).utf8))
            throw ExitCode(ExitCodes.redisUnavailable)
        }
    }

    /// Lists, requeues, deletes or purges; `named` holds the entries matching --id, per queue.
    private func act(on queues: [String], named: [String: [DeadLetters.Entry]], connection: RedisConnection, prefix: String) throws {
        var listed: [String] = []
        for queue in queues {
            let dead = DeadLetters(redis: connection, keys: QueueKeys(prefix: prefix, queue: queue))
            let mine = named[queue] ?? []
            if purge {
                print("\(queue): \(try dead.purge()) dead job(s) deleted")
            } else if requeue && ids.isEmpty {
                let moved = try QueueControl.requeueDead(queue: queue, redis: connection, prefix: prefix)
                print("\(queue): \(moved) job(s) moved back to \(prefix)\(queue)")
            } else if requeue || delete {
                var done = 0
                for entry in mine where try (requeue ? dead.requeue(entry) : dead.delete(entry)) { done += 1 }
                print("\(queue): \(done) job(s) \(requeue ? "moved back to \(prefix)\(queue)" : "deleted")")
            } else if json {
                listed += try (ids.isEmpty ? dead.all() : mine).map { Self.json($0, queue: queue) }
            } else {
                print("\(queue): \(try dead.count()) dead")
                for e in try (ids.isEmpty ? dead.list(limit: limit) : mine) { print(Self.describe(e)) }
            }
        }
        if json && !(requeue || delete || purge) { print("[" + listed.joined(separator: ",") + "]") }
    }

    /// Two lines for the table: id, time, attempts, payload (first 80 bytes), error (first 300
    /// characters); control characters escaped, so a payload cannot drive the terminal.
    static func describe(_ e: DeadLetters.Entry) -> String {
        let payload = TerminalText.safe(String(decoding: e.payload.prefix(80), as: UTF8.self))
        return "  \(e.id.prefix(12))  \(TerminalText.safe(e.failedAt))  attempts \(e.attempts)  payload \(payload)\(e.payload.count > 80 ? "…" : "")\n"
            + "    error: \(TerminalText.safe(String(e.error.prefix(300))))"
    }

    static func json(_ e: DeadLetters.Entry, queue: String) -> String {
        var w = JSONObjectWriter()
        w.string("queue", queue)
        w.string("id", e.id)
        w.bytes("payload", e.payload)
        w.string("error", e.error)
        w.number("attempts", e.attempts)
        w.string("worker", e.letter.worker)
        w.string("failed_at", e.failedAt)
        return w.text
    }
}
