import Foundation

/// Persistent mode: one long-lived handler per worker (a logged-in browser session), fed one JSON
/// line per job on stdin and answering one JSON line per job on stdout. Its stderr goes to the
/// worker's log. A handler that dies, hangs past the timeout or answers garbage fails that job and
/// is replaced before the next one.
///
/// Request:  `{"id":"<sha1>","queue":"q","attempt":1,"payload":"..."}` (+ `"payload_encoding":"base64"`)
/// Answer:   `{"status":"ok","output":...}` or `{"status":"failed","error":"..."}`
///           (`"ok": true|false` is accepted instead of `status`; a non-string `output` is kept as JSON).
public final class PersistentHandler: JobRunner {
    public let command: String
    public let environment: [String: String]
    private let reaper: Reaper
    private var child: ChildProcess?
    private var buffer: [UInt8] = []
    /// How many handler processes were started (a restart increments it).
    public private(set) var starts = 0
    public var activePID: Int32? { child?.pid }

    public init(command: String, environment: [String: String], reaper: Reaper) {
        self.command = command
        self.environment = environment
        self.reaper = reaper
    }

    public func run(job: ClaimedJob, queue: String, deadline: ContinuousClock.Instant, tick: () -> Void) -> HandlerOutcome {
        // A handler that died while idle (browser crash between jobs) is replaced before this
        // job is sent: the job must not fail for it.
        if let c = child, reaper.status(of: c.pid) != nil { _ = restart(with: .failure("")) }
        if child == nil {
            do {
                var env = environment
                env["JOB_QUEUE"] = queue
                child = try ChildProcess.spawnShell(command, environment: env, stderrTo: STDERR_FILENO)
                starts += 1
                buffer.removeAll()
            } catch {
                return .failure("\(error)")
            }
        }
        var request = JSONObjectWriter()
        request.string("id", job.id)
        request.string("queue", queue)
        request.number("attempt", job.attempt)
        request.bytes("payload", job.payload)
        let line = Array((request.text + "\n").utf8)
        switch exchange(line, deadline: deadline, tick: tick) {
        case .answer(let bytes):
            return Self.parseAnswer(bytes) ?? restart(with: .failure("persistent handler answered with invalid JSON: '\(Self.preview(bytes))'"))
        case .exited(let status):
            return restart(with: .failure("persistent handler exited (\(status)) before answering"))
        case .timedOut:
            return restart(with: .failure("timed out (--job-timeout); persistent handler killed", timedOut: true))
        case .tooLong:
            return restart(with: .failure("persistent handler answer exceeded \(HandlerLimits.answerCap) bytes"))
        }
    }

    public func shutdown() {
        guard var c = child else { return }
        c.closeStdin()  // a well-behaved handler exits on EOF
        let clock = ContinuousClock()
        let until = clock.now + .seconds(3)
        while clock.now < until {
            if reaper.status(of: c.pid) != nil { break }
            usleep(20_000)
        }
        c.closeAll()
        ProcessTree.killAll(group: c.pid, descendantsOf: getpid())
        reaper.reap()
        child = nil
    }

    private func restart(with outcome: HandlerOutcome) -> HandlerOutcome {
        if var c = child {
            c.closeAll()
            ProcessTree.killAll(group: c.pid, descendantsOf: getpid())
            reaper.reap()
            reaper.forgetAll()
        }
        child = nil
        return outcome
    }

    private enum Exchange { case answer([UInt8]), exited(TerminationStatus), timedOut, tooLong }

    private func exchange(_ line: [UInt8], deadline: ContinuousClock.Instant, tick: () -> Void) -> Exchange {
        guard let c = child else { return .exited(.exited(-1)) }
        let clock = ContinuousClock()
        var lastTick = clock.now
        var written = 0
        while true {
            if let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let answer = Array(buffer[..<nl])
                buffer.removeSubrange(...nl)
                if answer.allSatisfy({ $0 == 32 || $0 == 13 }) { continue }  // blank line: keep waiting
                return .answer(answer)
            }
            if buffer.count > HandlerLimits.answerCap { return .tooLong }
            if let status = reaper.status(of: c.pid) { return .exited(status) }
            if clock.now >= deadline { return .timedOut }
            // (the pidfd is not polled here: a dead handler closes stdout, which wakes the poll)
            if clock.now - lastTick >= .seconds(1) { tick(); lastTick = clock.now }
            var fds = [pollfd(fd: c.stdoutFD, events: Int16(POLLIN), revents: 0)]
            if written < line.count { fds.append(pollfd(fd: c.stdinFD, events: Int16(POLLOUT), revents: 0)) }
            if poll(&fds, nfds_t(fds.count), 50) <= 0 { continue }
            if fds.count > 1, fds[1].revents != 0 {
                let n = line.withUnsafeBytes { write(c.stdinFD, $0.baseAddress! + written, $0.count - written) }
                if n > 0 { written += n } else if n < 0, errno != EAGAIN, errno != EINTR { written = line.count }
            }
            if fds[0].revents != 0 {
                var chunk = [UInt8](repeating: 0, count: 1 << 16)
                let n = read(c.stdoutFD, &chunk, chunk.count)
                if n > 0 { buffer += chunk[0..<n] }
                else if n == 0 || (errno != EAGAIN && errno != EINTR) {
                    // stdout closed: wait briefly for the exit status.
                    for _ in 0..<50 {
                        if let status = reaper.status(of: c.pid) { return .exited(status) }
                        usleep(10_000)
                    }
                    return .exited(.exited(-1))
                }
            }
        }
    }

    /// Parses an answer line; nil when it is not a JSON object with a recognizable status.
    public static func parseAnswer(_ bytes: [UInt8]) -> HandlerOutcome? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else { return nil }
        let ok: Bool
        if let status = object["status"] as? String {
            guard status == "ok" || status == "failed" else { return nil }
            ok = status == "ok"
        } else if let flag = object["ok"] as? Bool {
            ok = flag
        } else {
            return nil
        }
        var output: [UInt8] = []
        if let text = object["output"] as? String {
            output = Array(text.utf8)
        } else if let value = object["output"], !(value is NSNull),
                  let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys]) {
            output = Array(data)
        }
        let truncated = output.count > HandlerLimits.outputCap
        if truncated { output = Array(output.prefix(HandlerLimits.outputCap)) }
        if ok { return HandlerOutcome(status: .ok, output: output, outputTruncated: truncated) }
        let error = (object["error"] as? String) ?? "persistent handler reported failure without an error text"
        return HandlerOutcome(status: .failed, output: output, outputTruncated: truncated, error: error)
    }

    static func preview(_ bytes: [UInt8]) -> String {
        let text = String(decoding: bytes.prefix(200), as: UTF8.self)
        return bytes.count > 200 ? text + "…" : text
    }
}
