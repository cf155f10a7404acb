import Foundation

/// Kills every registered worker (and its handler's process group) when the lease deadline
/// passes, on a thread of its own: the supervisor's thread may be blocked in a Redis call to an
/// unreachable server exactly when the deadline comes (a partition), and the fleet's caps must
/// hold anyway. The supervisor moves the deadline forward after each renewal.
public final class FenceWatchdog: @unchecked Sendable {
    private let condition = NSCondition()
    private var deadline: ContinuousClock.Instant?
    /// Worker pid → its handler's pid (also its process group), when known.
    private var workers: [Int32: Int32] = [:]
    private var fired = 0
    private let clock = ContinuousClock()

    public init() {
        let thread = Thread { [weak self] in self?.loop() }
        thread.name = "lease-fence"
        thread.start()
    }

    /// The instant at which every worker is killed (nil: never).
    public func setDeadline(_ instant: ContinuousClock.Instant?) {
        condition.lock()
        deadline = instant
        condition.signal()
        condition.unlock()
    }

    public func track(worker pid: Int32, handler: Int32?) {
        condition.lock()
        workers[pid] = handler ?? 0
        condition.unlock()
    }

    public func forget(worker pid: Int32) {
        condition.lock()
        workers[pid] = nil
        condition.unlock()
    }

    /// How many times the deadline passed with workers to kill (the supervisor logs each new one).
    public var firedCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return fired
    }

    private func loop() {
        condition.lock()
        while true {
            guard let due = deadline else {
                condition.wait()
                continue
            }
            let left = due - clock.now
            if left > .zero {
                _ = condition.wait(until: Date().addingTimeInterval(Double(left.components.seconds) + Double(left.components.attoseconds) / 1e18))
                continue
            }
            if !workers.isEmpty {
                fired += 1
                for (pid, handler) in workers {
                    ProcessTree.killHandlerGroup(of: pid, handler: handler)
                    kill(pid, SIGKILL)
                }
            }
            deadline = nil
        }
    }
}
