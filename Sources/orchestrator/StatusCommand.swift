import ArgumentParser
import CLISupport
import Foundation
import OrchestratorCore

/// `orchestrator status [--json]`
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show queues and workers, read from Redis (exit 3 when no orchestrator runs).")

    @Flag(help: "Print JSON instead of a table.") var json = false
    @OptionGroup var target: RedisTargetOptions

    func run() throws {
        let (connection, prefix, queues) = try target.connect(command: "status")
        let report: StatusReport
        do { report = try StatusReport.collect(redis: connection, prefix: prefix, queues: queues) } catch {
            FileHandle.standardError.write(Data("status: \(error)\n".utf8))
            throw ExitCode(ExitCodes.redisUnavailable)
        }
        print(json ? report.json : report.table, terminator: json ? "\n" : "")
        if report.instance == nil { throw ExitCode(ExitCodes.notRunning) }
    }
}
