import Foundation

/// How long this host's slot leases are surely still ours, by our own monotonic clock. A lease
/// renewed by a request sent at `s` lives in Redis until at least `s + ttl` (the server counts
/// from when it runs the request, which is later), so until then no other host can take it.
/// Pure: the caller passes the instants.
public struct LeaseClock: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        /// Renewed recently (or nothing held yet).
        case valid
        /// No renewal for a while: stop taking new workers and drain ours (at ttl/3 left).
        case expiring
        /// At most `killMargin` left: every worker must be gone before another host may take its slot.
        case expired
    }

    public let ttl: Duration
    /// Time left at which the workers are SIGKILLed: they must have exited, not just been signalled, by the expiry.
    public let killMargin: Duration
    /// When the last successful renewal was sent (nil: none yet).
    public private(set) var renewedAt: ContinuousClock.Instant?

    public init(ttl: Duration, killMargin: Duration = .seconds(1)) {
        self.ttl = ttl
        self.killMargin = min(killMargin, ttl / 4)
    }

    /// A renewal sent at `sentAt` succeeded.
    public mutating func renewed(sentAt: ContinuousClock.Instant) {
        if renewedAt.map({ sentAt > $0 }) ?? true { renewedAt = sentAt }
    }

    /// Until when our leases surely exist in Redis.
    public var validUntil: ContinuousClock.Instant? { renewedAt.map { $0 + ttl } }
    /// When the workers must be killed (nil: no renewal yet, so no lease either).
    public var killAt: ContinuousClock.Instant? { validUntil.map { $0 - killMargin } }

    public func state(at now: ContinuousClock.Instant) -> State {
        guard let until = validUntil else { return .valid }
        let left = until - now
        if left <= killMargin { return .expired }
        if left <= ttl / 3 { return .expiring }
        return .valid
    }
}

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
                    if handler > 1, let entry = ProcessTree.entry(handler), entry.ppid == pid, entry.pgrp == handler { kill(-handler, SIGKILL) }
                    kill(pid, SIGKILL)
                }
            }
            deadline = nil
        }
    }
}
