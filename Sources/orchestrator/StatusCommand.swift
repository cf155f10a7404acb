import ArgumentParser
import CLISupport
import Foundation
import OrchestratorCore

/// `orchestrator status [--json]`
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show queues and workers, read from Redis (exit 3 when neither an orchestrator nor a worker runs).",
        discussion: "Without --queue (or QUEUES): the queues the running orchestrator watches, else those live workers work, else conferencia,emissao. With --queue: only those queues and their workers.")

    @Flag(help: "Print JSON instead of a table.") var json = false
    @OptionGroup var target: RedisTargetOptions

    func run() throws {
        let (connection, prefix, requested) = try target.connect(command: "status")
        let report: StatusReport
        do { report = try StatusReport.collect(redis: connection, prefix: prefix, requested: requested, fallback: ["conferencia", "emissao"]) } catch {
            FileHandle.standardError.write(Data(TerminalText.safe("status: \(error)\n", keepingNewlines: true).utf8))
            throw ExitCode(ExitCodes.redisUnavailable)
        }
        print(json ? report.json : report.table, terminator: json ? "\n" : "")
        if report.nothingRuns { throw ExitCode(ExitCodes.notRunning) }
    }
}
