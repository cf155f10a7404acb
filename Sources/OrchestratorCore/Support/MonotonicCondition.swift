import Foundation

/// A mutex and condition variable whose timed waits run on CLOCK_MONOTONIC: a wall-clock step
/// (NTP, an operator's `date -s`) neither shortens nor stretches them, unlike `NSCondition`'s
/// `wait(until: Date)`. Callers lock, check their state, wait, and unlock.
public final class MonotonicCondition: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() {
        pthread_mutex_init(mutex, nil)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(cond, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        cond.deallocate()
        mutex.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }
    public func signal() { pthread_cond_signal(cond) }
    public func broadcast() { pthread_cond_broadcast(cond) }

    /// Waits (locked) until signalled.
    public func wait() { pthread_cond_wait(cond, mutex) }

    /// Waits (locked) until signalled or `timeout` passed by the monotonic clock. False on timeout.
    @discardableResult
    public func wait(for timeout: Duration) -> Bool {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let total = max(.zero, timeout)
        let (seconds, attoseconds) = total.components
        var nanos = Int(now.tv_nsec) + Int(attoseconds / 1_000_000_000)
        var secs = Int(now.tv_sec) + Int(min(seconds, Int64(Int32.max)))
        secs += nanos / 1_000_000_000
        nanos %= 1_000_000_000
        var deadline = timespec(tv_sec: secs, tv_nsec: nanos)
        return pthread_cond_timedwait(cond, mutex, &deadline) == 0
    }
}
