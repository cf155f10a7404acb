import Dispatch
import Synchronization

/// Something that happened outside the supervisor's thread.
public enum SupervisorEvent: Sendable, Equatable {
    case workerExited(pid: Int32, status: TerminationStatus)
    case signal(Int32)
    /// From the length feed's subscriber thread.
    case lengthFeed(LengthFeedEvent)
}

/// Hands events from termination handlers and signal sources (other threads) to the supervisor
/// loop, which waits on it between ticks. The events are behind a `Mutex`; a semaphore wakes the
/// waiter (Dispatch times its waits by the monotonic clock: a wall-clock step neither shortens nor
/// stretches them). A wake-up with nothing left to take (posts the last take already got) only
/// makes the waiter look again.
public final class EventInbox: Sendable {
    private let events = Mutex<[SupervisorEvent]>([])
    private let arrived = DispatchSemaphore(value: 0)

    public init() {}

    public func post(_ event: SupervisorEvent) {
        events.withLock { $0.append(event) }
        arrived.signal()
    }

    /// Returns what arrived, waiting up to `timeout` (by the monotonic clock) if nothing has.
    public func take(waitingFor timeout: Duration) -> [SupervisorEvent] {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            let taken = events.withLock { events in
                defer { events.removeAll() }
                return events
            }
            let left = deadline - clock.now
            if !taken.isEmpty || left <= .zero { return taken }
            let nanos = min(left.components.seconds, 86_400) * 1_000_000_000 + left.components.attoseconds / 1_000_000_000
            _ = arrived.wait(timeout: .now() + .nanoseconds(Int(nanos)))
        }
    }
}
