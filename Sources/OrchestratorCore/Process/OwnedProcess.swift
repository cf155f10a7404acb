import CShims
import Foundation
import Synchronization

/// A child process this process started, signalled through a pidfd (Linux ≥ 5.3): once the child
/// has been reaped (Foundation reaps workers on a thread of its own, at any moment) the descriptor
/// refers to nothing, so a signal can never reach a process that got the same pid afterwards.
/// Thread-safe: the supervisor's thread and the fence watchdog share it.
///
/// Where the kernel has no pidfd, signals go by pid until `release()` (called once the exit was
/// handled): the window between the reaping and that call is not covered there.
public final class OwnedProcess: Sendable {
    public let pid: pid_t
    /// The pidfd (-1: the kernel has none, or released) and whether the exit was handled.
    private struct Handle {
        var fd: Int32
        var released = false
    }
    private let handle: Mutex<Handle>

    /// A handle on `pid`, which must be a child of this process: that is checked after the pidfd
    /// is open, so the descriptor surely refers to our child. Nil for anything else (a pid that
    /// was reaped already, another process's child, a made-up number).
    public init?(child pid: pid_t) {
        guard pid > 1 else { return nil }
        let fd = rpa_pidfd_open(pid)
        if fd < 0 && errno != ENOSYS { return nil }  // ESRCH: gone already
        guard let entry = ProcessTree.entry(pid), entry.ppid == getpid() else {
            if fd >= 0 { close(fd) }
            return nil
        }
        self.pid = pid
        self.handle = Mutex(Handle(fd: fd))
    }

    deinit { handle.withLock { if $0.fd >= 0 { close($0.fd) } } }

    /// Whether signals go through a pidfd (false on kernels before 5.3).
    public var hasPidfd: Bool { handle.withLock { $0.fd >= 0 } }

    /// Sends `sig` if the process was not reaped yet (and not released). True when sent.
    @discardableResult
    public func signal(_ sig: Int32) -> Bool {
        handle.withLock { Self.send(sig, to: pid, through: $0) }
    }

    /// SIGKILLs the process group of the handler `handler` this worker runs (a browser must not
    /// outlive it), only while the worker is not reaped and `/proc` says `handler` is its child
    /// leading its own group: never a stale pid. Returns whether it was signalled.
    @discardableResult
    public func killHandlerGroup(_ handler: pid_t?) -> Bool {
        handle.withLock { h in
            guard let handler, handler > 1, Self.send(0, to: pid, through: h) else { return false }
            return Self.killGroup(of: handler, childOf: pid)
        }
    }

    /// SIGKILLs the group `handler` leads, if `/proc` says it is `worker`'s child leading its own
    /// group (called under the lock, with the worker not reaped).
    private static func killGroup(of handler: pid_t, childOf worker: pid_t) -> Bool {
        // Pin the handler first, then check it: the pidfd then surely refers to the worker's child.
        let handlerFD = rpa_pidfd_open(handler)
        defer { if handlerFD >= 0 { close(handlerFD) } }
        guard handlerFD >= 0 || errno == ENOSYS, let e = ProcessTree.entry(handler), e.ppid == worker, e.pgrp == handler, !e.isZombie else { return false }
        // The group cannot be signalled through a pidfd; it exists while its leader (alive, just
        // checked) does.
        kill(-handler, SIGKILL)
        if handlerFD >= 0 { _ = rpa_pidfd_send_signal(handlerFD, SIGKILL) }
        return true
    }

    /// SIGKILLs the process and the process group it leads (Foundation starts every child in a
    /// group of its own), only while it is not reaped. Returns whether it was.
    @discardableResult
    public func killWithGroup() -> Bool {
        handle.withLock { h in
            guard Self.send(0, to: pid, through: h) else { return false }
            kill(-pid, SIGKILL)
            return Self.send(SIGKILL, to: pid, through: h)
        }
    }

    /// The exit was handled: nothing is signalled through this handle any more.
    public func release() {
        handle.withLock { h in
            h.released = true
            if h.fd >= 0 { close(h.fd) }
            h.fd = -1
        }
    }

    /// Called with the lock held (the handle is the locked value).
    private static func send(_ sig: Int32, to pid: pid_t, through h: Handle) -> Bool {
        guard !h.released else { return false }
        if h.fd >= 0 { return rpa_pidfd_send_signal(h.fd, sig) == 0 }
        return kill(pid, sig) == 0
    }
}
