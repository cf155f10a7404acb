import OrchestratorCore
import Testing

@Suite("WorkerLifecycle (pure state machine)")
struct WorkerLifecycleTests {
    @Test("launching → running on the first heartbeat")
    func ready() {
        var w = WorkerLifecycle()
        #expect(w.state == .launching)
        #expect(w.reportedReady() == .none)
        #expect(w.state == .running)
    }

    @Test("drain request sends TERM once and enters draining")
    func drain() {
        var w = WorkerLifecycle()
        _ = w.reportedReady()
        let deadline = ContinuousClock.now + .seconds(5)
        #expect(w.drainRequested(deadline: deadline) == .sendTerminate)
        #expect(w.state == .draining(deadline: deadline))
        #expect(w.drainRequested(deadline: deadline) == .none)
    }

    @Test("a scale-down drain (no deadline) takes the orchestrator's deadline when it drains")
    func tighterDeadline() {
        var w = WorkerLifecycle()
        #expect(w.drainRequested(deadline: nil) == .sendTerminate)
        let deadline = ContinuousClock.now + .seconds(1)
        #expect(w.drainRequested(deadline: deadline) == .none)
        #expect(w.state == .draining(deadline: deadline))
    }

    @Test("past the deadline: SIGKILL once, then the exit counts as killed")
    func deadline() {
        var w = WorkerLifecycle()
        let t = ContinuousClock.now
        _ = w.drainRequested(deadline: t + .seconds(1))
        #expect(w.tick(now: t) == .none)
        #expect(w.tick(now: t + .seconds(1)) == .sendKill)
        #expect(w.tick(now: t + .seconds(2)) == .none)
        #expect(w.processExited(.signaled(9)) == .requeue(.killed))
    }

    @Test("a second TERM to the orchestrator kills at once")
    func killNow() {
        var w = WorkerLifecycle()
        _ = w.drainRequested(deadline: nil)
        #expect(w.killNow() == .sendKill)
        #expect(w.killNow() == .none)
    }

    @Test("how exits are judged", arguments: [
        (false, TerminationStatus.exited(0), WorkerLifecycle.ExitKind.stoppedOnItsOwn),
        (false, .exited(75), .recycled),
        (false, .exited(1), .crashed(.exited(1))),
        (false, .signaled(9), .crashed(.signaled(9))),
        (false, .signaled(15), .stoppedOnItsOwn),
        (true, .signaled(15), .drained),
        (true, .exited(0), .drained),
        (true, .exited(75), .drained),
        (true, .signaled(11), .crashed(.signaled(11))),
        (false, .exited(77), .leaseLost),
        (true, .exited(77), .leaseLost),
    ])
    func exits(draining: Bool, status: TerminationStatus, kind: WorkerLifecycle.ExitKind) {
        var w = WorkerLifecycle()
        _ = w.reportedReady()
        if draining { _ = w.drainRequested(deadline: nil) }
        #expect(w.processExited(status) == .requeue(kind))
        #expect(w.state == .exited(kind))
        #expect(w.isExited)
    }

    @Test("crash backoff doubles 1, 2, 4 … 60 s and flags five crashes in a minute")
    func backoff() {
        var b = CrashBackoff()
        let t = ContinuousClock.now
        #expect(b.mayStart(at: t))
        var loops: [Bool] = []
        for i in 0..<5 { loops.append(b.crashed(at: t + .seconds(i))) }
        #expect(loops == [false, false, false, false, true])
        #expect(b.currentDelay == .seconds(16))
        #expect(!b.mayStart(at: t + .seconds(5)))
        #expect(b.mayStart(at: t + .seconds(4 + 16)))
        for i in 5..<12 { _ = b.crashed(at: t + .seconds(100 * i)) }
        #expect(b.currentDelay == .seconds(60))
        b.reset()
        #expect(b.mayStart(at: t))
        #expect(b.currentDelay == .seconds(1))
    }
}

@Suite("WorkerPolicy (pure)")
struct WorkerPolicyTests {
    @Test("drain, orphaning and recycling stop the loop with the documented exit codes")
    func stopReasons() {
        func reason(drain: Bool = false, ppid: Int32 = 10, expected: Int32? = 10, done: Int = 0, maxJobs: Int = 0, rss: Int = 0, maxRSS: Int = 0) -> WorkerStopReason? {
            WorkerPolicy.stopReason(drainRequested: drain, parentPID: ppid, expectedParent: expected, jobsDone: done, maxJobs: maxJobs, treeMemoryBytes: rss, maxRSSMB: maxRSS)
        }
        #expect(reason() == nil)
        #expect(reason(drain: true) == .drainRequested)
        #expect(reason(ppid: 1) == .orphaned)
        #expect(reason(ppid: 1, expected: nil) == nil)
        #expect(reason(done: 3, maxJobs: 3) == .maxJobs)
        #expect(reason(done: 2, maxJobs: 3) == nil)
        #expect(reason(done: 1, rss: 300 << 20, maxRSS: 256) == .maxMemory)
        #expect(reason(done: 0, rss: 300 << 20, maxRSS: 256) == nil, "never before the first job: no restart loop")
        #expect(reason(done: 1, rss: 200 << 20, maxRSS: 256) == nil)
        #expect(WorkerStopReason.maxMemory.exitCode == 75)
        #expect(WorkerStopReason.orphaned.exitCode == 0)
    }

    @Test("retry plan: dead-letter at max attempts, else at once or after a doubling delay")
    func retryPlan() {
        #expect(WorkerPolicy.retryPlan(attempt: 3, maxAttempts: 3, retryDelay: .zero, nowMilliseconds: 0) == .deadLetter)
        #expect(WorkerPolicy.retryPlan(attempt: 1, maxAttempts: 3, retryDelay: .zero, nowMilliseconds: 0) == .requeueNow)
        #expect(WorkerPolicy.retryPlan(attempt: 1, maxAttempts: 5, retryDelay: .seconds(2), nowMilliseconds: 1000) == .retryAt(milliseconds: 3000))
        #expect(WorkerPolicy.retryPlan(attempt: 3, maxAttempts: 5, retryDelay: .seconds(2), nowMilliseconds: 1000) == .retryAt(milliseconds: 9000))
    }
}
