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
        id is the SHA-1 of the payload (as in results and logs); 8 or more leading characters \
        suffice, and identical payloads share an id. Each requeue or delete is atomic.
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
        for id in ids where id.count < 8 || !id.allSatisfy(\.isHexDigit) {
            throw badConfig("--id: '\(id)' is not a job id (8 to 40 hex characters)")
        }
    }

    func run() throws {
        let (connection, prefix, requested) = try target.connect(command: "dead")
        let queues = target.targetQueues(connection, prefix: prefix, requested: requested)
        do {
            var listed: [String] = []
            for queue in queues {
                let dead = DeadLetters(redis: connection, keys: QueueKeys(prefix: prefix, queue: queue))
                if purge {
                    print("\(queue): \(try dead.purge()) dead job(s) deleted")
                } else if requeue && ids.isEmpty {
                    let moved = try QueueControl.requeueDead(queue: queue, redis: connection, prefix: prefix)
                    print("\(queue): \(moved) job(s) moved back to \(prefix)\(queue)")
                } else if requeue || delete {
                    var done = 0
                    for entry in try dead.matching(ids: ids) where try (requeue ? dead.requeue(entry) : dead.delete(entry)) { done += 1 }
                    print("\(queue): \(done) job(s) \(requeue ? "moved back to \(prefix)\(queue)" : "deleted")")
                } else if json {
                    listed += try (ids.isEmpty ? dead.all() : dead.matching(ids: ids)).map { Self.json($0, queue: queue) }
                } else {
                    print("\(queue): \(try dead.count()) dead")
                    for e in try (ids.isEmpty ? dead.list(limit: limit) : dead.matching(ids: ids)) {
                        let payload = String(decoding: e.payload.prefix(80), as: UTF8.self)
                        print("  \(e.id.prefix(12))  \(e.failedAt)  attempts \(e.attempts)  payload \(payload)\(e.payload.count > 80 ? "…" : "")")
                        print("    error: \(e.error.prefix(300))")
                    }
                }
            }
            if json && !(requeue || delete || purge) { print("[" + listed.joined(separator: ",") + "]") }
        } catch {
            FileHandle.standardError.write(Data("dead: \(error)\n".utf8))
            throw ExitCode(ExitCodes.redisUnavailable)
        }
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
