import Foundation

/// Something that happened outside the supervisor's thread.
public enum SupervisorEvent: Sendable, Equatable {
    case workerExited(pid: Int32, status: TerminationStatus)
    case signal(Int32)
}

/// Hands events from termination handlers and signal sources (other threads) to the supervisor
/// loop, which waits on it between ticks.
public final class EventInbox: @unchecked Sendable {
    private let condition = MonotonicCondition()
    private var events: [SupervisorEvent] = []

    public init() {}

    public func post(_ event: SupervisorEvent) {
        condition.lock()
        events.append(event)
        condition.signal()
        condition.unlock()
    }

    /// Returns what arrived, waiting up to `timeout` (by the monotonic clock) if nothing has.
    public func take(waitingFor timeout: Duration) -> [SupervisorEvent] {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        condition.lock()
        defer { condition.unlock() }
        while events.isEmpty {
            let left = deadline - clock.now
            if left <= .zero { break }
            condition.wait(for: left)
        }
        let out = events
        events.removeAll()
        return out
    }
}
