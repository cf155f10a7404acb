import Foundation

/// Exec mode: one process per job (`/bin/sh -c COMMAND`, or the command itself when it is plain
/// words), in its own process group; payload on stdin,
/// stdout becomes the output, exit 0 = ok, otherwise the stderr tail is the error.
public final class ExecHandler: JobRunner {
    public let command: String
    public let environment: [String: String]
    private let reaper: Reaper
    public private(set) var activePID: Int32?
    public var stderrLine: ((String) -> Void)?

    public init(command: String, environment: [String: String], reaper: Reaper) {
        self.command = command
        self.environment = environment
        self.reaper = reaper
    }

    public func run(job: ClaimedJob, queue: String, deadline: ContinuousClock.Instant, tick: () -> Void) -> HandlerOutcome {
        var env = environment
        env["JOB_QUEUE"] = queue
        env["JOB_ATTEMPT"] = String(job.attempt)
        env["JOB_ID"] = job.id
        let child: ChildProcess
        do {
            child = try ChildProcess.spawnShell(command, environment: env)
        } catch {
            return .failure("\(error)")
        }
        activePID = child.pid
        reaper.watch(child.pid)
        defer { activePID = nil; reaper.forget(child.pid) }
        var io = PipePump(child: child, stdinData: job.payload)
        io.lines = stderrLine.map { StderrLines(emit: $0) }
        let status = io.pump(until: deadline, reaper: reaper, tick: tick)
        io.lines?.flush()
        io.child.closeAll()
        // Whatever the handler left behind (a browser, a `sleep &`) dies with the job.
        ProcessTree.killAll(group: child.pid, descendantsOf: getpid(), reaper: reaper)
        guard let status else {
            return HandlerOutcome(status: .failed, output: io.stdout, outputTruncated: io.stdoutTruncated,
                                  error: "timed out (--job-timeout); handler process group killed" + io.stderrSuffix, timedOut: true)
        }
        if status.isSuccess {
            return HandlerOutcome(status: .ok, output: io.stdout, outputTruncated: io.stdoutTruncated)
        }
        var message = "handler failed with \(status)"
        if case .exited(127) = status { message += " (command not found?)" }
        if case .exited(126) = status { message += " (not executable?)" }
        return HandlerOutcome(status: .failed, output: io.stdout, outputTruncated: io.stdoutTruncated, error: message + io.stderrSuffix)
    }

    public func shutdown() {}
}

/// Feeds stdin and drains stdout/stderr of an exec-mode child with poll(2), so neither side can
/// deadlock on a full pipe, while watching the deadline and the child's exit.
struct PipePump {
    var child: ChildProcess
    var stdinData: [UInt8]
    var written = 0
    var stdout: [UInt8] = []
    var stdoutTruncated = false
    var stderr: [UInt8] = []
    /// Each stderr line as it arrives, for the worker's log.
    var lines: StderrLines?

    init(child: ChildProcess, stdinData: [UInt8]) {
        self.child = child
        self.stdinData = stdinData
    }

    var stderrSuffix: String {
        let text = String(decoding: stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "" : ": " + text
    }

    /// Returns the exit status, or nil when the deadline passed (the caller kills the group).
    mutating func pump(until deadline: ContinuousClock.Instant, reaper: Reaper, tick: () -> Void) -> TerminationStatus? {
        let clock = ContinuousClock()
        var lastTick = clock.now
        var exitStatus: TerminationStatus?
        var exitedAt: ContinuousClock.Instant?
        if stdinData.isEmpty { child.closeStdin() }
        while true {
            if exitStatus == nil, let s = reaper.status(of: child.pid) {
                exitStatus = s
                exitedAt = clock.now
                child.closeStdin()
            }
            let pipesOpen = child.stdoutFD >= 0 || child.stderrFD >= 0
            if let exitedAt, !pipesOpen || clock.now - exitedAt > .milliseconds(300) {
                return exitStatus  // a grandchild holding the pipe open is not waited for
            }
            if clock.now >= deadline { return nil }
            if clock.now - lastTick >= .milliseconds(250) { tick(); lastTick = clock.now }
            var fds: [pollfd] = []
            if child.stdinFD >= 0 { fds.append(pollfd(fd: child.stdinFD, events: Int16(POLLOUT), revents: 0)) }
            if child.stdoutFD >= 0 { fds.append(pollfd(fd: child.stdoutFD, events: Int16(POLLIN), revents: 0)) }
            if child.stderrFD >= 0 { fds.append(pollfd(fd: child.stderrFD, events: Int16(POLLIN), revents: 0)) }
            if exitStatus == nil && child.exitFD >= 0 { fds.append(pollfd(fd: child.exitFD, events: Int16(POLLIN), revents: 0)) }
            if fds.isEmpty { usleep(1_000); continue }
            // Short waits so a child exit (no fd event when a grandchild holds the pipes) is seen fast.
            let ready = poll(&fds, nfds_t(fds.count), 50)
            if ready <= 0 { continue }
            for p in fds where p.revents != 0 {
                if p.fd == child.stdinFD { writeStdin() }
                else if p.fd == child.stdoutFD { readInto(stdout: true) }
                else if p.fd == child.stderrFD { readInto(stdout: false) }
                // exitFD readable: the loop's next pass collects the status.
            }
        }
    }

    private mutating func writeStdin() {
        let n = stdinData.withUnsafeBytes { buf in
            write(child.stdinFD, buf.baseAddress! + written, min(buf.count - written, 1 << 16))
        }
        if n > 0 { written += n }
        if n < 0 && errno != EAGAIN && errno != EINTR { child.closeStdin(); return }  // EPIPE: handler closed stdin
        if written >= stdinData.count { child.closeStdin() }
    }

    private mutating func readInto(stdout isStdout: Bool) {
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        let fd = isStdout ? child.stdoutFD : child.stderrFD
        let n = read(fd, &buf, buf.count)
        if n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) {
            close(fd)
            if isStdout { child.stdoutFD = -1 } else { child.stderrFD = -1 }
            return
        }
        if n < 0 { return }
        if isStdout {
            let room = HandlerLimits.outputCap - stdout.count
            if room > 0 { stdout += buf[0..<min(n, room)] }
            if n > room { stdoutTruncated = true }
        } else {
            lines?.feed(buf[0..<n])
            stderr += buf[0..<n]
            if stderr.count > HandlerLimits.stderrTail { stderr.removeFirst(stderr.count - HandlerLimits.stderrTail) }
        }
    }
}
