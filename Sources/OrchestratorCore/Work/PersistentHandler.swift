import CShims
import Foundation

/// Persistent mode: one long-lived handler per worker (a logged-in browser session), fed one JSON
/// line per job on stdin and answering one JSON line per job on stdout. Its stderr goes to the
/// worker's log. A handler that dies, hangs past the timeout or answers garbage fails that job and
/// is replaced before the next one.
///
/// Request:  `{"id":"<sha1>","queue":"q","attempt":1,"payload":"..."}` (+ `"payload_encoding":"base64"`)
/// Answer:   `{"status":"ok","output":...}` or `{"status":"failed","error":"..."}`
///           (`"ok": true|false` is accepted instead of `status`; a non-string `output` is kept as
///           JSON; `"restart": true` asks for a fresh handler before the next job).
///
/// A handler found dead before a job is replaced first, and a job line the handler never read
/// (it died with the line still in the pipe) is handed to a fresh handler without costing an
/// attempt; only a second such death fails the attempt.
public final class PersistentHandler: JobRunner {
    public let command: String
    public let environment: [String: String]
    private let reaper: Reaper
    private var child: ChildProcess?
    private var buffer: [UInt8] = []
    /// The last answer asked for a restart (`"restart": true`): done before the next job.
    private var restartRequested = false
    /// How many handler processes were started (a restart increments it).
    public private(set) var starts = 0
    public var activePID: Int32? { child?.pid }
    public var stderrLine: ((String) -> Void)?
    /// The handler's stderr, cut into lines for the worker's log (between jobs too, see `idle`).
    private var lines: StderrLines?

    public init(command: String, environment: [String: String], reaper: Reaper) {
        self.command = command
        self.environment = environment
        self.reaper = reaper
    }

    public func run(job: ClaimedJob, queue: String, deadline: ContinuousClock.Instant, tick: () -> Void) -> HandlerOutcome {
        // A handler that died while idle (browser crash between jobs, or it exited after its
        // last answer) is replaced before this job is sent: the job must not fail for it.
        if restartRequested { stop(grace: .seconds(3)) }
        if let c = child, reaper.status(of: c.pid) != nil { stop(grace: .zero) }
        let line = PersistentRequest(id: job.id, queue: queue, attempt: job.attempt, payload: job.payload).line
        var unreadDeaths = 0
        while true {
            if child == nil, let failure = start(queue: queue) { return failure }
            switch exchange(line, deadline: deadline, tick: tick) {
            case .answer(let bytes):
                guard let answer = Self.parseAnswer(bytes) else {
                    stop(grace: .zero)
                    return .failure("persistent handler answered with invalid JSON: '\(Self.preview(bytes))'")
                }
                restartRequested = answer.restart
                return answer.outcome
            case .exited(let status, let readLine):
                stop(grace: .zero)
                if !readLine && unreadDeaths == 0 {
                    unreadDeaths += 1  // it never saw this job: a fresh handler gets it, no attempt spent
                    continue
                }
                let what = readLine ? "before answering" : "twice without reading the job"
                return .failure("persistent handler exited (\(status)) \(what)")
            case .timedOut:
                stop(grace: .zero)
                return .failure("timed out (--job-timeout); persistent handler killed", timedOut: true)
            case .tooLong:
                stop(grace: .zero)
                return .failure("persistent handler answer exceeded \(HandlerLimits.answerCap) bytes")
            }
        }
    }

    public func shutdown() {
        stop(grace: .seconds(3))
    }

    private func start(queue: String) -> HandlerOutcome? {
        do {
            var env = environment
            env["JOB_QUEUE"] = queue
            let c = try ChildProcess.spawnShell(command, environment: env)
            reaper.watch(c.pid)
            let sink = stderrLine ?? { line in FileHandleStderr.write(line) }
            lines = StderrLines(emit: sink)
            child = c
            starts += 1
            buffer.removeAll()
            restartRequested = false
            return nil
        } catch {
            return .failure("\(error)")
        }
    }

    /// Ends the handler: EOF on its stdin first (a well-behaved handler closes its browser and
    /// exits), then after `grace` SIGKILL for its group and every descendant, reaped at once.
    public func idle() { drainStderr() }

    /// Reads what the handler wrote to stderr so far (non-blocking) into the log.
    private func drainStderr() {
        guard let fd = child?.stderrFD, fd >= 0 else { return }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) {  // closed: stop polling it
                close(fd)
                child?.stderrFD = -1
                return
            }
            if n < 0 { return }
            lines?.feed(chunk[0..<n])
        }
    }

    private func stop(grace: Duration) {
        guard var c = child else { return }
        defer { lines?.flush() }
        c.closeStdin()
        let clock = ContinuousClock()
        let until = clock.now + grace
        while clock.now < until {
            drainStderr()
            if reaper.status(of: c.pid) != nil { break }
            usleep(20_000)
        }
        drainStderr()
        c.closeAll()
        ProcessTree.killAll(group: c.pid, descendantsOf: getpid(), reaper: reaper)
        reaper.forget(c.pid)
        child = nil
        restartRequested = false
    }

    private enum Exchange { case answer([UInt8]), exited(TerminationStatus, readLine: Bool), timedOut, tooLong }

    private func exchange(_ line: [UInt8], deadline: ContinuousClock.Instant, tick: () -> Void) -> Exchange {
        guard let c = child else { return .exited(.exited(-1), readLine: false) }
        let clock = ContinuousClock()
        var lastTick = clock.now
        var written = 0
        var writeFailed = false
        // Whether the handler took the whole line: written, and none of it left in the pipe.
        func readLine() -> Bool { !writeFailed && written == line.count && rpa_unread_bytes(c.stdinFD) == 0 }
        while true {
            if let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let answer = Array(buffer[..<nl])
                buffer.removeSubrange(...nl)
                if answer.allSatisfy({ $0 == 32 || $0 == 13 }) { continue }  // blank line: keep waiting
                return .answer(answer)
            }
            if buffer.count > HandlerLimits.answerCap { return .tooLong }
            if let status = reaper.status(of: c.pid) { return .exited(status, readLine: readLine()) }
            if clock.now >= deadline { return .timedOut }
            // (the pidfd is not polled here: a dead handler closes stdout, which wakes the poll)
            if clock.now - lastTick >= .milliseconds(250) { tick(); lastTick = clock.now }
            var fds = [pollfd(fd: c.stdoutFD, events: Int16(POLLIN), revents: 0), pollfd(fd: c.stderrFD, events: Int16(POLLIN), revents: 0)]
            if written < line.count && !writeFailed { fds.append(pollfd(fd: c.stdinFD, events: Int16(POLLOUT), revents: 0)) }
            if poll(&fds, nfds_t(fds.count), 50) <= 0 { continue }
            if fds[1].revents != 0 { drainStderr() }
            if fds.count > 2, fds[2].revents != 0 {
                let n = line.withUnsafeBytes { write(c.stdinFD, $0.baseAddress! + written, $0.count - written) }
                if n > 0 { written += n } else if n < 0, errno != EAGAIN, errno != EINTR { writeFailed = true }  // EPIPE: nobody reads
            }
            if fds[0].revents != 0, let end = readStdout(c, readLine: readLine) { return end }
        }
    }

    /// Reads what the handler wrote on stdout into `buffer`; the exchange's end when stdout closed
    /// (after a brief wait for the exit status), else nil.
    private func readStdout(_ c: ChildProcess, readLine: () -> Bool) -> Exchange? {
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        let n = read(c.stdoutFD, &chunk, chunk.count)
        if n > 0 { buffer += chunk[0..<n]; return nil }
        guard n == 0 || (errno != EAGAIN && errno != EINTR) else { return nil }
        for _ in 0..<50 {
            if let status = reaper.status(of: c.pid) { return .exited(status, readLine: readLine()) }
            usleep(10_000)
        }
        return .exited(.exited(-1), readLine: readLine())
    }

    /// A parsed answer line: the outcome, and whether the handler asked to be restarted.
    public struct Answer: Sendable, Equatable {
        public var outcome: HandlerOutcome
        public var restart: Bool
    }

    /// Parses an answer line; nil when it is not a JSON object with a recognizable status.
    public static func parseAnswer(_ bytes: [UInt8]) -> Answer? {
        guard let answer = try? decoder.decode(PersistentAnswer.self, from: Data(bytes)) else { return nil }
        var outcome = HandlerOutcome(status: answer.isOK ? .ok : .failed)
        switch answer.output {
        case .null: break
        case .string(let text): outcome.output = Array(text.utf8)
        case let value: outcome.outputJSON = value
        }
        if let json = outcome.outputJSON, json.text.utf8.count > HandlerLimits.outputCap {
            outcome.output = Array(json.text.utf8)  // too big to keep as JSON: cut, as a string
            outcome.outputJSON = nil
        }
        if outcome.output.count > HandlerLimits.outputCap {
            outcome.output = Array(outcome.output.prefix(HandlerLimits.outputCap))
            outcome.outputTruncated = true
        }
        if !answer.isOK { outcome.error = answer.error ?? "persistent handler reported failure without an error text" }
        return Answer(outcome: outcome, restart: answer.restart)
    }

    private static let decoder = JSONDecoder()

    static func preview(_ bytes: [UInt8]) -> String {
        let text = String(decoding: bytes.prefix(200), as: UTF8.self)
        return bytes.count > 200 ? text + "…" : text
    }
}

/// Raw lines to our own stderr, when no logger was given (a handler used outside a worker).
enum FileHandleStderr {
    static func write(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(STDERR_FILENO, $0.baseAddress!, $0.count) }
    }
}
