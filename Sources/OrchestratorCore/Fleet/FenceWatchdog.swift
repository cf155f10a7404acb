import Foundation
import Synchronization

/// Kills every registered worker (and its handler's process group) when the lease deadline
/// passes, on a thread of its own: the supervisor's thread may be blocked in a Redis call to an
/// unreachable server exactly when the deadline comes (a partition), and the fleet's caps must
/// hold anyway. The supervisor moves the deadline forward after each renewal.
///
/// It signals only through `OwnedProcess` handles (pidfds), so a worker reaped meanwhile is
/// never confused with a process that reused its pid; it waits on the monotonic clock; `stop()`
/// (or dropping the watchdog) ends its thread.
public final class FenceWatchdog: Sendable {
    private let core = Core()

    public init() {
        let core = self.core
        let thread = Thread { core.run() }
        thread.name = "lease-fence"
        thread.start()
    }

    deinit { core.stop() }

    /// The instant at which every worker is killed (nil: never).
    public func setDeadline(_ instant: ContinuousClock.Instant?) {
        core.change { $0.deadline = instant }
    }

    public func track(_ process: OwnedProcess, handler: Int32?) {
        core.change(wake: false) { $0.workers[process.pid] = (process, handler) }
    }

    public func forget(worker pid: Int32) {
        core.change(wake: false) { $0.workers[pid] = nil }
    }

    /// Ends the thread (at the end of a drain, or when its supervisor goes away). Nothing is
    /// killed after it returns.
    public func stop() { core.stop() }

    /// How many times the deadline passed with workers to kill (the supervisor logs each new one).
    public var firedCount: Int { core.state.withLock { $0.fired } }

    /// How many times the deadline passed with workers to kill, and the pids the last time killed.
    public var firings: (count: Int, lastKilled: [Int32]) { core.state.withLock { ($0.fired, $0.lastKilled) } }

    /// The workers the last firing actually signalled: those not reaped yet (a subset of `lastKilled`).
    public var lastSignalled: [Int32] { core.state.withLock { $0.lastSignalled } }

    /// False once the thread has ended (after `stop()`).
    public var isRunning: Bool { core.state.withLock { !$0.ended } }

    /// What the thread and the callers share: the state behind a `Mutex`, and a semaphore that
    /// wakes the thread when the deadline moves or `stop()` is called (Dispatch times its waits
    /// by the monotonic clock; a wake-up with nothing changed only makes the thread look again).
    /// The thread holds this, not the watchdog, so dropping the watchdog stops it.
    private final class Core: Sendable {
        struct State {
            var deadline: ContinuousClock.Instant?
            /// Worker pid → its handle and its handler's pid (also its process group), when known.
            var workers: [Int32: (process: OwnedProcess, handler: Int32?)] = [:]
            var fired = 0
            var lastKilled: [Int32] = []
            var lastSignalled: [Int32] = []
            var stopped = false
            var ended = false
        }
        let state = Mutex(State())
        private let wake = DispatchSemaphore(value: 0)
        /// Longest single wait: the deadline is rechecked on `ContinuousClock` at least this often.
        private static let slice: Duration = .seconds(1)

        func change(wake: Bool = true, _ body: (inout State) -> Void) {
            state.withLock { body(&$0) }
            if wake { self.wake.signal() }
        }

        func stop() {
            change {
                $0.stopped = true
                $0.workers.removeAll()
            }
        }

        func run() {
            while let wait = state.withLock({ Self.step(&$0, now: ContinuousClock.now) }) {
                guard let wait else {
                    wake.wait()
                    continue
                }
                let (seconds, attoseconds) = wait.components  // at most `slice`
                _ = wake.wait(timeout: .now() + .nanoseconds(Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)))
            }
        }

        /// One look, under the lock: kills the workers if the deadline passed (so nothing is
        /// killed once `stop()` returned). Returns how long to wait next (inner nil: until woken),
        /// or nil when stopped.
        private static func step(_ s: inout State, now: ContinuousClock.Instant) -> Duration?? {
            guard !s.stopped else {
                s.ended = true
                return nil
            }
            guard let due = s.deadline else { return .some(nil) }
            let left = due - now
            if left > .zero { return min(left, slice) }
            if !s.workers.isEmpty {
                s.fired += 1
                s.lastKilled = s.workers.keys.sorted()
                s.lastSignalled = []
                for (pid, worker) in s.workers.sorted(by: { $0.key < $1.key }) {
                    worker.process.killHandlerGroup(worker.handler)
                    if worker.process.signal(SIGKILL) { s.lastSignalled.append(pid) }
                }
            }
            s.deadline = nil
            return .some(nil)
        }
    }
}
