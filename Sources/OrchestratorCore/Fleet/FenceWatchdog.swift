import Foundation

/// Kills every registered worker (and its handler's process group) when the lease deadline
/// passes, on a thread of its own: the supervisor's thread may be blocked in a Redis call to an
/// unreachable server exactly when the deadline comes (a partition), and the fleet's caps must
/// hold anyway. The supervisor moves the deadline forward after each renewal.
///
/// It signals only through `OwnedProcess` handles (pidfds), so a worker reaped meanwhile is
/// never confused with a process that reused its pid; it waits on the monotonic clock; `stop()`
/// ends its thread.
public final class FenceWatchdog: @unchecked Sendable {
    private let condition = MonotonicCondition()
    private var deadline: ContinuousClock.Instant?
    /// Worker pid → its handle and its handler's pid (also its process group), when known.
    private var workers: [Int32: (process: OwnedProcess, handler: Int32?)] = [:]
    private var fired = 0
    /// The worker pids the last firing killed.
    private var lastKilled: [Int32] = []
    private var stopped = false
    private let clock = ContinuousClock()
    /// Longest single wait: the deadline is rechecked on `ContinuousClock` at least this often.
    private static let slice: Duration = .seconds(1)

    public init() {
        let thread = Thread { [weak self] in self?.loop() }
        thread.name = "lease-fence"
        thread.start()
    }

    /// The instant at which every worker is killed (nil: never).
    public func setDeadline(_ instant: ContinuousClock.Instant?) {
        locked(wake: true) { deadline = instant }
    }

    public func track(_ process: OwnedProcess, handler: Int32?) {
        locked { workers[process.pid] = (process, handler) }
    }

    public func forget(worker pid: Int32) {
        locked { workers[pid] = nil }
    }

    /// Ends the thread (at the end of a drain, or when its supervisor goes away). Nothing is killed after it returns.
    public func stop() {
        locked(wake: true) {
            stopped = true
            workers.removeAll()
        }
    }

    /// How many times the deadline passed with workers to kill (the supervisor logs each new one).
    public var firedCount: Int { locked { fired } }

    /// How many times the deadline passed with workers to kill, and the pids the last time killed.
    public var firings: (count: Int, lastKilled: [Int32]) { locked { (fired, lastKilled) } }

    private func locked<T>(wake: Bool = false, _ body: () -> T) -> T {
        condition.lock()
        defer {
            if wake { condition.signal() }
            condition.unlock()
        }
        return body()
    }

    private func loop() {
        condition.lock()
        defer { condition.unlock() }
        while !stopped {
            guard let due = deadline else {
                condition.wait()
                continue
            }
            let left = due - clock.now
            if left > .zero {
                condition.wait(for: min(left, Self.slice))
                continue
            }
            if !workers.isEmpty {
                fired += 1
                lastKilled = workers.keys.sorted()
                for (process, handler) in workers.values {
                    process.killHandlerGroup(handler)
                    process.signal(SIGKILL)
                }
            }
            deadline = nil
        }
    }
}
