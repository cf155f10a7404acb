import CLISupport
import OrchestratorCore
import Testing

@Suite("options are declared once (OptionSpec → command line → resolver)")
struct OptionDeclarationTests {
    @Test("every `orchestrator run` option given on the command line reaches the resolver through its spec")
    func everyRunFlagReachesItsSpec() throws {
        let specs = OptionSpec.all.filter { $0 != .slot }
        let options = try RunOptions.parse(specs.flatMap { [$0.flag, "v-\($0.name)"] })
        for spec in specs { #expect(options.optionValues[spec] == "v-\(spec.name)", "\(spec.flag)") }
    }

    @Test("--help shows each option's env variable and default from its one declaration")
    func helpFromSpec() {
        let help = RunOptions.helpMessage(columns: 10_000)
        for spec in OptionSpec.all where spec != .slot {
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
