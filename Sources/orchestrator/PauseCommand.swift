import ArgumentParser
import CLISupport
import Foundation
import OrchestratorCore

/// `orchestrator pause --queue NAME`: stop working a queue (the target site is down, a release is
/// under way) without touching its jobs; `resume` undoes it. The state lives in Redis, so it holds
/// across orchestrator restarts and applies to standalone workers too.
struct Pause: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pause queues: their workers finish the current job and stop; jobs wait in the queue.",
        discussion: "A queue the running orchestrator does not watch is refused (a typo would pause nothing) unless --force; with no orchestrator running (standalone workers), any valid name is accepted.")
    @OptionGroup var target: RedisTargetOptions
    @Flag(help: "Pause even a queue the running orchestrator does not watch.") var force = false

    func run() throws { try setPaused(true, target, force: force) }
}

struct Resume: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Resume paused queues.",
        discussion: "A queue that is not paused is refused (exit 64: a typo would resume nothing), and nothing is changed.")
    @OptionGroup var target: RedisTargetOptions

    func run() throws { try setPaused(false, target, force: true) }
}

private func setPaused(_ paused: Bool, _ target: RedisTargetOptions, force: Bool) throws {
    let verb = paused ? "pause" : "resume"
    guard try target.requestedQueues() != nil else { throw badConfig("--queue: name the queue(s) to \(verb)") }
    let (connection, prefix, requested) = try target.connect(command: verb)
    let queues = requested ?? []
    if !paused {
        let current: Set<String>
        do { current = try QueueControl.paused(redis: connection, prefix: prefix) } catch {
            FileHandle.standardError.write(Data("\(verb): \(error)\n".utf8))
            throw ExitCode(ExitCodes.redisUnavailable)
        }
        let notPaused = queues.filter { !current.contains($0) }
        if !notPaused.isEmpty {
            let list = current.isEmpty ? "no queue is paused" : TerminalText.safe("paused: \(current.sorted().joined(separator: ", "))")
            throw badConfig("--queue: \(notPaused.joined(separator: ", ")) is not paused (\(list)); nothing was resumed")
        }
    }
    if !force, let watched = watchedQueues(connection, prefix: prefix) {
        let unknown = queues.filter { !watched.contains($0) }
        if !unknown.isEmpty {
            throw badConfig("--queue: \(unknown.joined(separator: ", ")) is not watched by the running orchestrator (it watches \(watched.joined(separator: ", "))); pass --force to \(verb) anyway")
        }
    }
    do {
        try QueueControl.setPaused(paused, queues: queues, redis: connection, prefix: prefix)
    } catch {
        FileHandle.standardError.write(Data("\(verb): \(error)\n".utf8))
        throw ExitCode(ExitCodes.redisUnavailable)
    }
    for q in queues {
        print(paused ? "\(q): paused (workers finish their current job and stop; jobs wait in \(prefix)\(q))"
                     : "\(q): resumed")
    }
}
