import ArgumentParser
import CLISupport
import Foundation
import OrchestratorCore

/// `orchestrator dead [--requeue]`
struct Dead: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List dead-letter jobs, or move them back to their queue with --requeue.",
        discussion: "Jobs land in <prefix><queue>:dead after --max-attempts failures. Fix the cause, then requeue them: each goes back to the front of its queue with a fresh attempt count.")

    @Flag(help: "Move every dead job back to its queue (attempts reset).") var requeue = false
    @Option(help: ArgumentHelp("How many of the newest entries to show per queue.", valueName: "n")) var limit = 10
    @OptionGroup var target: RedisTargetOptions

    func run() throws {
        let (connection, prefix, requested) = try target.connect(command: "dead")
        let queues = target.targetQueues(connection, prefix: prefix, requested: requested)
        do {
            for queue in queues {
                let dead = DeadLetters(redis: connection, keys: QueueKeys(prefix: prefix, queue: queue))
                if requeue {
                    print("\(queue): \(try dead.requeueAll()) job(s) moved back to \(prefix)\(queue)")
                    continue
                }
                print("\(queue): \(try dead.count()) dead")
                for e in try dead.list(limit: limit) {
                    let payload = String(decoding: e.payload.prefix(80), as: UTF8.self)
                    print("  \(e.failedAt)  attempts \(e.attempts)  payload \(payload)\(e.payload.count > 80 ? "…" : "")")
                    print("    error: \(e.error.prefix(300))")
                }
            }
        } catch {
            FileHandle.standardError.write(Data("dead: \(error)\n".utf8))
            throw ExitCode(ExitCodes.redisUnavailable)
        }
    }
}
