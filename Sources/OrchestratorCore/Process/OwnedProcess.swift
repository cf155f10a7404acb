import CShims
import Foundation

/// A child process this process started, signalled through a pidfd (Linux ≥ 5.3): once the child
/// has been reaped (Foundation reaps workers on a thread of its own, at any moment) the descriptor
/// refers to nothing, so a signal can never reach a process that got the same pid afterwards.
/// Thread-safe: the supervisor's thread and the fence watchdog share it.
///
/// Where the kernel has no pidfd, signals go by pid until `release()` (called once the exit was
/// handled): the window between the reaping and that call is not covered there.
public final class OwnedProcess: @unchecked Sendable {
    public let pid: pid_t
    private let lock = NSLock()
    /// The pidfd (-1: the kernel has none).
    private var fd: Int32
    private var released = false

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
        self.fd = fd
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Whether signals go through a pidfd (false on kernels before 5.3).
    public var hasPidfd: Bool { lock.lock(); defer { lock.unlock() }; return fd >= 0 }

    /// Sends `sig` if the process was not reaped yet (and not released). True when sent.
    @discardableResult
    public func signal(_ sig: Int32) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return send(sig)
    }

    /// SIGKILLs the process group of the handler `handler` this worker runs (a browser must not
    /// outlive it), only while the worker is not reaped and `/proc` says `handler` is its child
    /// leading its own group: never a stale pid. Returns whether it was signalled.
    @discardableResult
    public func killHandlerGroup(_ handler: pid_t?) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard let handler, handler > 1, send(0) else { return false }
        // Pin the handler first, then check it: the pidfd then surely refers to the worker's child.
        let handlerFD = rpa_pidfd_open(handler)
        defer { if handlerFD >= 0 { close(handlerFD) } }
        guard handlerFD >= 0 || errno == ENOSYS, let e = ProcessTree.entry(handler), e.ppid == pid, e.pgrp == handler, !e.isZombie else { return false }
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
        lock.lock()
        defer { lock.unlock() }
        guard send(0) else { return false }
        kill(-pid, SIGKILL)
        return send(SIGKILL)
    }

    /// The exit was handled: nothing is signalled through this handle any more.
    public func release() {
        lock.lock()
        defer { lock.unlock() }
        released = true
        if fd >= 0 { close(fd) }
        fd = -1
    }

    /// Locked.
    private func send(_ sig: Int32) -> Bool {
        guard !released else { return false }
        if fd >= 0 { return rpa_pidfd_send_signal(fd, sig) == 0 }
        return kill(pid, sig) == 0
    }
}
