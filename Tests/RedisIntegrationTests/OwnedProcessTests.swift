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

    @Test("the monotonic condition times out after the wait asked for, and wakes at once when signalled")
    func monotonicWait() {
        let condition = MonotonicCondition()
        let clock = ContinuousClock()
        condition.lock()
        let start = clock.now
        let signalled = condition.wait(for: .milliseconds(50))
        condition.unlock()
        #expect(signalled || clock.now - start >= .milliseconds(50), "a timeout before the time asked for")
        let inbox = EventInbox()
        DispatchQueue.global().async { inbox.post(.signal(SIGHUP)) }
        #expect(inbox.take(waitingFor: .seconds(30)) == [.signal(SIGHUP)])
    }
}
