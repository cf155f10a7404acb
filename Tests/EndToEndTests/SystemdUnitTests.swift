import Foundation
import Testing
import TestSupport

/// The shipped systemd units: valid for systemd, and hardened (exposure measured by systemd).
@Suite("systemd units", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze"),
                                 "systemd-analyze is missing (Debian's systemd package)"))
struct SystemdUnitTests {
    @Test("both units pass systemd-analyze verify and score below 5 (of 10) on systemd-analyze security", arguments: [
        ("rpa-orchestrator.service", "rpa-orchestrator.service"), ("rpa-worker@.service", "rpa-worker@conferencia.service"),
    ])
    func unit(source: String, instance: String) throws {
        let dir = TestEnv.scratch("units")
        let text = try String(contentsOfFile: "\(MetricsExamplesTests.examples)/../deploy/systemd/\(source)", encoding: .utf8)
        // The real binaries stand in for /opt/rpa-orchestrator, so verify can check ExecStart.
        try text.replacingOccurrences(of: "/opt/rpa-orchestrator", with: TestEnv.binDir)
            .write(toFile: "\(dir)/\(instance)", atomically: true, encoding: .utf8)
        let (verify, verifyOut) = try runToEnd("/bin/sh", ["-c", "cd \(dir) && systemd-analyze verify ./\(instance)"])
        #expect(verify == .exited(0) && verifyOut.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "warnings: \(verifyOut)")
        let (_, security) = try runToEnd("/bin/sh", ["-c", "cd \(dir) && systemd-analyze security --offline=true ./\(instance)"])
        let score = security.split(separator: "\n").last { $0.contains("Overall exposure level") }
            .flatMap { Double($0.split(separator: ":").last?.split(separator: " ").first ?? "") }
        #expect((score ?? 10) < 5, "\(security.suffix(400))")
    }
}
