import ArgumentParser
import CLISupport
import Foundation
import OrchestratorCore

/// `orchestrator pause --queue NAME`: stop working a queue (the target site is down, a release is
/// under way) without touching its jobs; `resume` undoes it. The state lives in Redis, so it holds
/// across orchestrator restarts and applies to standalone workers too.
struct Pause: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pause queues: their workers finish the current job and stop; jobs wait in the queue.")
    @OptionGroup var target: RedisTargetOptions

    func run() throws { try setPaused(true, target) }
}

struct Resume: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Resume paused queues.")
    @OptionGroup var target: RedisTargetOptions

    func run() throws { try setPaused(false, target) }
}

private func setPaused(_ paused: Bool, _ target: RedisTargetOptions) throws {
    guard !target.queues.isEmpty else { throw ValidationError("--queue: name the queue(s) to \(paused ? "pause" : "resume")") }
    for q in target.queues {
        do { try validateQueueName(q, flag: "--queue") } catch { throw ValidationError(error.description) }
    }
    let (connection, prefix, queues) = try target.connect(command: paused ? "pause" : "resume")
    let key = RedisArg(QueueKeys.paused(prefix: prefix))
    do {
        _ = try connection.send([paused ? "SADD" : "SREM", key] + queues.map { RedisArg($0) })
    } catch {
        FileHandle.standardError.write(Data("\(paused ? "pause" : "resume"): \(error)\n".utf8))
        throw ExitCode(ExitCodes.redisUnavailable)
    }
    for q in queues {
        print(paused ? "\(q): paused (workers finish their current job and stop; jobs wait in \(prefix)\(q))"
                     : "\(q): resumed")
    }
}
