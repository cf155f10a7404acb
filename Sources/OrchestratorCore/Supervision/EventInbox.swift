import Foundation

/// Something that happened outside the supervisor's thread.
public enum SupervisorEvent: Sendable, Equatable {
    case workerExited(pid: Int32, status: TerminationStatus)
    case signal(Int32)
}

/// Hands events from termination handlers and signal sources (other threads) to the supervisor
/// loop, which waits on it between ticks.
public final class EventInbox: @unchecked Sendable {
    private let condition = NSCondition()
    private var events: [SupervisorEvent] = []

    public init() {}

    public func post(_ event: SupervisorEvent) {
        condition.lock()
        events.append(event)
        condition.signal()
        condition.unlock()
    }

    /// Returns what arrived, waiting until `deadline` if nothing has.
    public func take(waitingUntil deadline: Date) -> [SupervisorEvent] {
        condition.lock()
        defer { condition.unlock() }
        while events.isEmpty {
            if !condition.wait(until: deadline) { break }
        }
        let out = events
        events.removeAll()
        return out
    }
}
