import CShims
import Foundation
import Synchronization

/// What the supervisor needs to start a worker.
public struct LaunchSpec: Sendable {
    public var executable: String
    public var arguments: [String]
    public var environment: [String: String]
    public var logPath: String
    /// Written to the worker's stdin before it starts (the Redis password line, see
    /// `ChildEnvironment`); nil: stdin is /dev/null.
    public var stdinLine: String?

    public init(executable: String, arguments: [String], environment: [String: String], logPath: String, stdinLine: String? = nil) {
        self.executable = executable; self.arguments = arguments; self.environment = environment
        self.logPath = logPath; self.stdinLine = stdinLine
    }
}

extension LaunchSpec {
    /// This spec with the worker's fleet slot lease in its environment (`LeaseFence`): the key of
    /// slot `slot`, the value this host holds it with for `queue`, and the margin the fence
    /// watchdog keeps (`LeaseClock.killMargin`), so the worker stops taking jobs when the
    /// orchestrator would have killed it, even if the orchestrator is frozen.
    func fenced(by fleet: FleetMembership, slot: Int, queue: String) -> LaunchSpec {
        var spec = self
        let fence = LeaseFence(key: fleet.fleetKeys.slot(slot), holder: fleet.lease(queue).encoded,
                               marginMilliseconds: LeaseClock(ttl: fleet.settings.leaseTTL).killMargin.milliseconds)
        spec.environment.merge(fence.environment) { _, lease in lease }
        return spec
    }
}

/// Starts and signals worker processes; a fake in unit tests.
public protocol ProcessLauncher: AnyObject {
    /// Starts the process; its exit is later posted to the inbox as `.workerExited`.
    func launch(_ spec: LaunchSpec) throws(LaunchError) -> Int32
    /// Signals a process this launcher started, unless it has been reaped (never a reused pid).
    func signal(_ pid: Int32, _ signal: Int32)
    /// The handle through which a process it started may be signalled from other threads (the
    /// fence watchdog) and its handler's group killed; nil when there is none (a fake's made-up pid).
    func owned(_ pid: Int32) -> OwnedProcess?
}

/// Launches workers through Foundation.Process, with the pitfalls of LINUX-NOTES handled:
/// an empty signal mask around `run()` (children inherit the calling thread's mask), the
/// termination handler set before `run()`, and no `waitpid(-1)` anywhere in this process.
/// Foundation reaps each child on a thread of its own, so signals go through an `OwnedProcess`
/// (a pidfd opened right after the start), never by raw pid.
public final class FoundationProcessLauncher: ProcessLauncher {
    private let inbox: EventInbox
    private let processes = Mutex<[Int32: (process: Process, owned: OwnedProcess?)]>([:])

    public init(inbox: EventInbox) { self.inbox = inbox }

    public func launch(_ spec: LaunchSpec) throws(LaunchError) -> Int32 {
        let fd = openForAppend(spec.logPath)
        guard fd >= 0 else { throw LaunchError(path: spec.logPath, message: String(cString: strerror(errno))) }
        let log = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: spec.executable)
        process.arguments = spec.arguments
        process.environment = spec.environment
        let input = spec.stdinLine.flatMap(Self.pipeHolding)
        process.standardInput = input ?? FileHandle.nullDevice
        defer { try? input?.close() }
        process.standardOutput = log
        process.standardError = log
        let inbox = self.inbox
        process.terminationHandler = { p in
            inbox.post(.workerExited(pid: p.processIdentifier, status: TerminationStatus(p)))
        }
        do {
            try Self.runWithEmptySignalMask(process)
        } catch {
            throw LaunchError(path: spec.executable, message: "\(error)")
        }
        let pid = process.processIdentifier
        // Its exit is handled on the supervisor's thread (ours), after this returns: the pid is
        // still our child here unless it exited within microseconds, and then no handle is made.
        let owned = OwnedProcess(child: pid)
        processes.withLock { $0[pid] = (process, owned) }
        return pid
    }

    /// The read end of a pipe that already holds `line` (its write end closed, so the child reads
    /// the line, then EOF); both ends close-on-exec, so no other child inherits them. nil on failure.
    static func pipeHolding(_ line: String) -> FileHandle? {
        var fds: [Int32] = [-1, -1]
        guard rpa_pipe_cloexec(&fds) == 0 else { return nil }
        let bytes = Array(line.utf8)
        let written = bytes.withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) }
        close(fds[1])
        guard written == bytes.count else { close(fds[0]); return nil }
        return FileHandle(fileDescriptor: fds[0], closeOnDealloc: true)
    }

    /// `process.run()` with an empty signal mask on this thread: children inherit the calling
    /// thread's mask, and Dispatch and pool threads block TERM/INT/CHLD/HUP (LINUX-NOTES).
    public static func runWithEmptySignalMask(_ process: Process) throws {
        var empty = sigset_t()
        var old = sigset_t()
        sigemptyset(&empty)
        pthread_sigmask(SIG_SETMASK, &empty, &old)
        defer { pthread_sigmask(SIG_SETMASK, &old, nil) }
        try process.run()
    }

    public func signal(_ pid: Int32, _ signal: Int32) {
        owned(pid)?.signal(signal)
    }

    public func owned(_ pid: Int32) -> OwnedProcess? {
        processes.withLock { $0[pid]?.owned }
    }

    /// Drops the Process object once its exit was handled; nothing is signalled through it any more.
    public func forget(_ pid: Int32) {
        let gone = processes.withLock { $0.removeValue(forKey: pid)?.owned }
        gone?.release()
    }
}
