import CLISupport
import Foundation
import OrchestratorCore
import Testing

@Suite("options are declared once (OptionSpec → command line → resolver)")
struct OptionDeclarationTests {
    @Test("every `orchestrator run` option given on the command line reaches the resolver through its spec")
    func everyRunFlagReachesItsSpec() throws {
        let specs = OptionSpec.all.filter { !OptionSpec.workerOnly.contains($0) }
        let options = try RunOptions.parse(specs.flatMap { [$0.flag, "v-\($0.name)"] })
        for spec in specs { #expect(options.optionValues[spec] == "v-\(spec.name)", "\(spec.flag)") }
    }

    @Test("--help shows each option's env variable and default from its one declaration")
    func helpFromSpec() {
        let help = RunOptions.helpMessage(columns: 10_000)
        for spec in OptionSpec.all where !OptionSpec.workerOnly.contains(spec) {
            #expect(help.contains(spec.flag) && help.contains(spec.help), "\(spec.flag)")
        }
        #expect(OptionSpec.maxWorkerRSSMB.flag == "--max-worker-rss-mb" && OptionSpec.jobsPerWorker.flag == "--jobs-per-worker")
    }

    @Test("defaults are parsed like user values: the spec's default text is the default")
    func defaultsFromSpec() throws {
        let s = try OrchestratorSettings.resolve(OrchestratorSettings.Flags.with(handlers: ["conferencia=cat", "emissao=cat"]),
                                                 OptionResolver(environment: [:]), defaultWorkerPath: "/bin/true")
        #expect(s.pollInterval == parseDuration(OptionSpec.pollInterval.defaultValue!))
        #expect(s.policy.jobsPerWorker == Int(OptionSpec.jobsPerWorker.defaultValue!))
        #expect(s.job.jobTimeout == parseDuration(OptionSpec.jobTimeout.defaultValue!))
    }
}

extension OrchestratorSettings.Flags {
    static func with(handlers: [String]) -> Self {
        var f = Self()
        f.handlers = handlers
        return f
    }
}

@Suite("handler commands checked at start (pure, on this machine's files)")
struct HandlerCheckTests {
    @Test("plain-word commands: missing or non-executable programs are problems; found ones are not")
    func plainWords() {
        #expect(HandlerCheck.problem("cat", path: nil) == nil)
        #expect(HandlerCheck.problem("/bin/cat -n", path: nil) == nil)
        #expect(HandlerCheck.problem("nosuchprogram-7 x", path: "/usr/bin") == "'nosuchprogram-7' is not found in PATH (/usr/bin)")
        let plain = NSTemporaryDirectory() + "/not-a-program-\(getpid())"
        FileManager.default.createFile(atPath: plain, contents: Data("echo\n".utf8), attributes: [.posixPermissions: 0o644])
        defer { try? FileManager.default.removeItem(atPath: plain) }
        #expect(HandlerCheck.problem(plain, path: nil) == "'\(plain)' is not executable")
        #expect(HandlerCheck.problem("sleep 1; nosuch", path: nil) == nil, "shell syntax is not refused")
    }

    @Test("shell commands only warn, and only about a first word that is a missing program")
    func shellWarnings() {
        #expect(HandlerCheck.warning("nosuchprogram-7 --x | cat", path: "/usr/bin")?.contains("only a warning") == true)
        #expect(HandlerCheck.warning("sleep 1; echo done", path: nil) == nil)
        #expect(HandlerCheck.warning("if true; then cat; fi", path: nil) == nil)
        #expect(HandlerCheck.warning("cat", path: nil) == nil, "plain words are checked by problem(), not warned")
    }
}
