import ArgumentParser
import CLISupport
import Foundation
import OrchestratorCore

/// `orchestrator job ID [--queue Q …] [--json]`: where a job is now (the lookup of `GET /api/jobs/ID`).
struct JobCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job",
        abstract: "Show where a job is now: pending, in flight (and on which worker), waiting for retry, dead, or done with its result.",
        discussion: """
        A job id is as in results and logs: the job's own id when the Python Client enqueued it, else \
        the SHA-1 of the payload. Without --queue, the queues of the running orchestrator. At most \
        the newest \(JobLocator.defaultLimit) entries of each list are read. Exit codes: 0 found, \
        1 not found, 64 bad input, 69 Redis unreachable.
        """)

    @Argument(help: ArgumentHelp("The job id (the whole id, as in results and logs).", valueName: "id")) var id: String
    @Flag(help: "Print the location as JSON (the answer of GET /api/jobs/ID).") var json = false
    @OptionGroup var target: RedisTargetOptions

    func validate() throws {
        guard JobEnvelope.isValidInstanceID(Array(id.utf8)) else {
            throw badConfig("id: '\(TerminalText.safe(id))' is not a job id (1 to 64 of 0-9, A-Z, a-z, '-', '_')")
        }
    }

    func run() throws {
        let (connection, prefix, requested) = try target.connect(command: "job")
        let queues = target.targetQueues(connection, prefix: prefix, requested: requested)
        let found: JobLocation?
        do {
            found = try JobLocator(redis: connection, prefix: prefix).locate(id: id, queues: queues)
        } catch {
            FileHandle.standardError.write(Data(TerminalText.safe("job: \(error)\n", keepingNewlines: true).utf8))
            throw ExitCode(ExitCodes.redisUnavailable)
        }
        guard let found else {
            FileHandle.standardError.write(Data("job: \(id) not found in \(queues.joined(separator: ", "))\n".utf8))
            throw ExitCode(1)
        }
        print(json ? found.json : Self.describe(found))
    }

    /// One line (then the error or the result on their own line); control characters, newlines
    /// included, escaped as the JSON logs write them, so a payload or error cannot drive the terminal.
    static func describe(_ l: JobLocation) -> String {
        var line = "\(l.id)  \(l.queue)  \(l.state.rawValue)"
        if let worker = l.worker { line += "  worker \(worker)" }
        if let due = l.dueAt { line += "  due \(due)" }
        if let attempts = l.attempts { line += "  attempts \(attempts)" }
        line = TerminalText.safe(line)
        if let error = l.error { line += "\n  error: " + TerminalText.safe(String(error.prefix(300))) }
        if let result = l.result { line += "\n  result: " + TerminalText.safe(String(decoding: result.prefix(2000), as: UTF8.self)) }
        return line
    }
}
