import Foundation

/// One worker process as the orchestrator tracks it. A pure state machine: each input returns
/// the action for the caller to perform; it does no I/O.
public struct WorkerLifecycle: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        /// Spawned; no heartbeat seen yet.
        case launching
        /// Heartbeat seen; taking jobs.
        case running
        /// Asked to stop (TERM sent); may be killed at `deadline` (nil = wait for its job however long).
        case draining(deadline: ContinuousClock.Instant?)
        /// Gone.
        case exited(ExitKind)
    }

    /// How an exit is judged, which decides requeue and restart backoff.
    public enum ExitKind: Sendable, Equatable {
        /// We asked it to stop (scale-down or drain) and it did.
        case drained
        /// It asked to be replaced (exit 75: max jobs or memory).
        case recycled
        /// It stopped cleanly on its own (e.g. `kill -TERM <worker>` by an operator).
        case stoppedOnItsOwn
        /// Crashed, was killed, or failed to start: requeue its job, restart with backoff.
        case crashed(TerminationStatus)
        /// We SIGKILLed it past the drain deadline.
        case killed
        /// It found its fleet slot lease not its own any more and stopped taking jobs (exit 77,
        /// `lease.lost` in its log): not a crash, no restart backoff; the fleet decides who runs next.
        case leaseLost
    }

    public enum Action: Sendable, Equatable {
        case none
        case sendTerminate
        case sendKill
        /// The process is gone: requeue whatever it held.
        case requeue(ExitKind)
    }

    public private(set) var state: State = .launching
    private var killSent = false

    public init() {}

    public var isDraining: Bool { if case .draining = state { return true }; return false }
    public var isExited: Bool { if case .exited = state { return true }; return false }

    public mutating func reportedReady() -> Action {
        if case .launching = state { state = .running }
        return .none
    }

    public mutating func drainRequested(deadline: ContinuousClock.Instant?) -> Action {
        switch state {
        case .launching, .running:
            state = .draining(deadline: deadline)
            return .sendTerminate
        case .draining(let old):
            // A tighter deadline (orchestrator drain after a scale-down) replaces a looser one.
            if let deadline, old == nil || deadline < old! { state = .draining(deadline: deadline) }
            return .none
        case .exited:
            return .none
        }
    }

    /// Called on every tick while draining; returns `.sendKill` once the deadline has passed.
    public mutating func tick(now: ContinuousClock.Instant) -> Action {
        guard case .draining(let deadline?) = state, now >= deadline, !killSent else { return .none }
        killSent = true
        return .sendKill
    }

    /// Forces the kill now (a second TERM to the orchestrator).
    public mutating func killNow() -> Action {
        guard !isExited, !killSent else { return .none }
        if case .draining = state {} else { state = .draining(deadline: nil) }
        killSent = true
        return .sendKill
    }

    public mutating func processExited(_ status: TerminationStatus) -> Action {
        let kind: ExitKind
        switch state {
        case .exited:
            preconditionFailure("processExited twice for one worker (state \(state))")
        case .draining:
            if killSent { kind = .killed }
            else if status == .exited(ExitCodes.ok) || status == .exited(ExitCodes.recycle) || status.isStopSignal { kind = .drained }
            else if status == .exited(ExitCodes.leaseLost) { kind = .leaseLost }
            else { kind = .crashed(status) }
        case .launching, .running:
            if status == .exited(ExitCodes.recycle) { kind = .recycled }
            else if status == .exited(ExitCodes.ok) || status.isStopSignal { kind = .stoppedOnItsOwn }
            else if status == .exited(ExitCodes.leaseLost) { kind = .leaseLost }
            else { kind = .crashed(status) }
        }
        state = .exited(kind)
        return .requeue(kind)
    }
}

extension TerminationStatus {
    /// Killed by TERM or INT before its own handler was installed (signalled during start-up):
    /// it did what was asked, stop; it did not crash.
    var isStopSignal: Bool { self == .signaled(SIGTERM) || self == .signaled(SIGINT) }
}

/// Restart backoff after crashes: 1 s, 2 s, 4 s … 60 s; five crashes within a minute is a crash loop.
public struct CrashBackoff: Sendable, Equatable {
    public private(set) var consecutive = 0
    /// Crash times of the last hour (at most 1,000).
    public private(set) var recent: [ContinuousClock.Instant] = []
    public private(set) var nextAllowed: ContinuousClock.Instant?

    public init() {}

    /// Records a crash; returns true when this makes a crash loop (5 within 60 s).
    public mutating func crashed(at now: ContinuousClock.Instant) -> Bool {
        consecutive += 1
        nextAllowed = now + currentDelay
        recent = (recent.filter { now - $0 < .seconds(3600) } + [now]).suffix(1000)  // the alert's window may be up to 1 h
        return recent.filter { now - $0 < .seconds(60) }.count >= 5
    }

    /// The wait before the next start: 1 s after the first crash, doubling, at most 60 s.
    public var currentDelay: Duration { .seconds(min(1 << min(max(consecutive - 1, 0), 6), 60)) }

    /// A worker exited cleanly or lived long enough: start over.
    public mutating func reset() {
        consecutive = 0
        nextAllowed = nil
    }

    public func mayStart(at now: ContinuousClock.Instant) -> Bool {
        nextAllowed.map { now >= $0 } ?? true
    }
}
