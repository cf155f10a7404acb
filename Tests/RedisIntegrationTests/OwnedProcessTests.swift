import Foundation
@testable import OrchestratorCore
import Testing
import TestSupport

/// Signals reach only processes the orchestrator still owns: real children started here through
/// the launcher the orchestrator uses (no Redis needed). Every pid signalled is one of them.
@Suite("owned processes: pidfd signals, the fence watchdog", .serialized)
struct OwnedProcessTests {
    let inbox = EventInbox()
    let dir = TestEnv.scratch("owned")

    func start(_ launcher: FoundationProcessLauncher, _ path: String, _ args: [String]) throws -> Int32 {
        try launcher.launch(LaunchSpec(executable: path, arguments: args, environment: [:], logPath: "\(dir)/\(args.joined()).log"))
    }

    /// Waits for the exit of `pid` reported by the launcher (Foundation has reaped it by then).
    func exitStatus(of pid: Int32, timeout: Duration = .seconds(20)) -> TerminationStatus? {
        let clock = ContinuousClock()
        let end = clock.now + timeout
        while clock.now < end {
            for case .workerExited(let p, let status) in inbox.take(waitingFor: .milliseconds(100)) where p == pid { return status }
        }
        return nil
    }

    @Test("a worker that exited and was reaped is not signalled (by the launcher, its kill path, or the fence); a live one is SIGKILLed at the deadline")
    func fenceSkipsReaped() throws {
        let launcher = FoundationProcessLauncher(inbox: inbox)
        let live = try start(launcher, "/bin/sleep", ["60"])
        // Alive for a moment, so its handle surely opens before it exits (a /bin/true could be reaped first).
        let done = try start(launcher, "/bin/sleep", ["0.3"])
        #expect(exitStatus(of: done) == .exited(0))
        // Reaped, its exit not yet handled (not forgotten): the window where a raw pid may be anyone's.
        let reaped = try #require(launcher.owned(done))
        #expect(reaped.hasPidfd, "this kernel has pidfd_open (Linux >= 5.3)")
        #expect(!reaped.signal(SIGKILL) && !reaped.killWithGroup() && !reaped.killHandlerGroup(live))

        let watchdog = FenceWatchdog()
        defer { watchdog.stop() }
        watchdog.track(try #require(launcher.owned(live)), handler: nil)
        watchdog.track(reaped, handler: nil)
        watchdog.setDeadline(ContinuousClock().now)
        #expect(exitStatus(of: live) == .signaled(SIGKILL), "the fence kills a live worker")
        #expect(watchdog.firedCount == 1)
        #expect(watchdog.firings.lastKilled == [live, done].sorted(), "both count as fenced")
        #expect(watchdog.lastSignalled == [live], "the reaped worker is not signalled")
        launcher.forget(live)
        launcher.forget(done)
        #expect(launcher.owned(live) == nil)
    }

    @Test("a pid that is not our child gets no handle; a released handle signals nothing; after stop() the watchdog kills nothing")
    func onlyOwnChildren() throws {
        #expect(OwnedProcess(child: getppid()) == nil, "our parent is not our child")
        #expect(OwnedProcess(child: 5_000_001) == nil, "a made-up pid")
        let launcher = FoundationProcessLauncher(inbox: inbox)
        let child = try start(launcher, "/bin/sleep", ["60"])
        let owned = try #require(launcher.owned(child))
        let watchdog = FenceWatchdog()
        watchdog.track(owned, handler: nil)
        watchdog.stop()
        watchdog.setDeadline(ContinuousClock().now)
        #expect(holds(for: .milliseconds(500)) { ProcessTree.entry(child).map { !$0.isZombie } ?? false }, "a stopped watchdog killed a worker")
        #expect(watchdog.firedCount == 0)
        launcher.signal(child, SIGKILL)
        #expect(exitStatus(of: child) == .signaled(SIGKILL), "the launcher signals its live child through the pidfd")
        owned.release()
        #expect(!owned.signal(0))
    }

    @Test("stop() ends the watchdog's thread, and nothing is killed after it")
    func stopEndsThread() {
        let watchdog = FenceWatchdog()
        #expect(watchdog.isRunning)
        watchdog.setDeadline(ContinuousClock().now + .seconds(3600))
        watchdog.stop()
        #expect(waitUntil { !watchdog.isRunning }, "the lease-fence thread still runs after stop()")
    }

    @Test("an alert command is killed only while registered: never after its exit was handled, even when the exit came before the registration")
    func helperKilledOnlyWhileRegistered() throws {
        let helpers = HelperSet()
        let early = try sleeper(), late = try sleeper()
        defer { for p in [early, late] where p.isRunning { p.terminate(); p.waitUntilExit() } }
        // Exit handled first (a command ending within microseconds), registration second.
        helpers.exited(early.processIdentifier)
        helpers.started(early.processIdentifier, OwnedProcess(child: early.processIdentifier))
        #expect(!helpers.contains(early.processIdentifier) && !helpers.kill(early.processIdentifier))
        // Registered, then its exit handled: the timer's kill signals nothing.
        helpers.started(late.processIdentifier, OwnedProcess(child: late.processIdentifier))
        #expect(helpers.contains(late.processIdentifier))
        helpers.exited(late.processIdentifier)
        #expect(!helpers.kill(late.processIdentifier))
        #expect(holds(for: .milliseconds(300)) { early.isRunning && late.isRunning }, "a helper was signalled after its exit was handled")
        // A registered live command is killed.
        let live = try sleeper()
        helpers.started(live.processIdentifier, OwnedProcess(child: live.processIdentifier))
        #expect(helpers.kill(live.processIdentifier))
        live.waitUntilExit()
        #expect(live.terminationReason == .uncaughtSignal && live.terminationStatus == SIGKILL)
    }

    func sleeper() throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sleep")
        p.arguments = ["60"]
        try FoundationProcessLauncher.runWithEmptySignalMask(p)
        return p
    }
}
