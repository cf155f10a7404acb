import CShims
import Foundation

/// Errors starting a handler process.
public struct LaunchError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let message: String
    public var description: String { "cannot start \(path): \(message)" }
}

/// A child started with `posix_spawn` in its own process group, with pipes for its standard
/// streams. The worker uses this instead of Foundation.Process so it controls the signal mask,
/// dispositions, inherited descriptors, and reaping.
public struct ChildProcess {
    public let pid: pid_t
    /// Our ends of the pipes (-1 when not piped).
    public var stdinFD: Int32
    public var stdoutFD: Int32
    public var stderrFD: Int32

    /// Starts `command` as `/bin/sh -c` would. A simple command (words only, no shell syntax) is
    /// started directly, searching PATH, which saves a shell per job; anything else goes to sh.
    public static func spawnShell(_ command: String, environment: [String: String], stderrTo: Int32 = -1) throws(LaunchError) -> ChildProcess {
        if let words = simpleWords(command) {
            var env = environment
            if env["PATH"] == nil { env["PATH"] = "/usr/local/bin:/usr/bin:/bin" }
            return try spawn(words, environment: env, stderrTo: stderrTo, searchPath: true)
        }
        return try spawn(["/bin/sh", "-c", command], environment: environment, stderrTo: stderrTo)
    }

    /// The words of a command with no shell syntax at all (no quotes, variables, globs,
    /// redirections, separators, assignments or keywords), else nil.
    public static func simpleWords(_ command: String) -> [String]? {
        let special: Set<Character> = ["|", "&", ";", "<", ">", "(", ")", "$", "`", "\\", "\"", "'", "*", "?", "[", "]", "#", "~", "=", "%", "{", "}", "!", "\n"]
        guard !command.contains(where: { special.contains($0) }) else { return nil }
        let words = command.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        let keywords: Set<String> = ["if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac",
                                     "exec", "cd", "export", "set", "unset", "eval", "source", ".", "exit", "read", "trap", "ulimit", "umask"]
        guard let first = words.first, !keywords.contains(first) else { return nil }
        return words
    }

    /// Starts `argv` (argv[0] an absolute path, or a name found in PATH with `searchPath`).
    /// `stderrTo` >= 0 passes that descriptor as the child's stderr instead of a pipe.
    public static func spawn(_ argv: [String], environment: [String: String], stderrTo: Int32 = -1, searchPath: Bool = false) throws(LaunchError) -> ChildProcess {
        let inPipe = try makePipe(argv[0])
        let outPipe = try makePipe(argv[0])
        var errPipe: (Int32, Int32) = (-1, -1)
        if stderrTo < 0 { errPipe = try makePipe(argv[0]) }
        let envp = environment.map { "\($0.key)=\($0.value)" }
        var pid: pid_t = 0
        let rc = withCStrings(argv) { cargv in
            withCStrings(envp) { cenv in
                searchPath
                    ? rpa_spawnp(argv[0], cargv, cenv, inPipe.0, outPipe.1, stderrTo >= 0 ? stderrTo : errPipe.1, &pid)
                    : rpa_spawn(argv[0], cargv, cenv, inPipe.0, outPipe.1, stderrTo >= 0 ? stderrTo : errPipe.1, &pid)
            }
        }
        close(inPipe.0); close(outPipe.1)
        if errPipe.1 >= 0 { close(errPipe.1) }
        if rc != 0 {
            close(inPipe.1); close(outPipe.0)
            if errPipe.0 >= 0 { close(errPipe.0) }
            throw LaunchError(path: argv[0], message: String(cString: strerror(rc)))
        }
        for fd in [inPipe.1, outPipe.0, errPipe.0] where fd >= 0 {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        return ChildProcess(pid: pid, stdinFD: inPipe.1, stdoutFD: outPipe.0, stderrFD: errPipe.0, exitFD: rpa_pidfd_open(pid))
    }

    /// A pidfd that polls readable when the child exits (-1 when the kernel lacks pidfd_open).
    public var exitFD: Int32 = -1

    public mutating func closeStdin() {
        if stdinFD >= 0 { close(stdinFD); stdinFD = -1 }
    }

    public mutating func closeAll() {
        for fd in [stdinFD, stdoutFD, stderrFD, exitFD] where fd >= 0 { close(fd) }
        stdinFD = -1; stdoutFD = -1; stderrFD = -1; exitFD = -1
    }

    private static func makePipe(_ path: String) throws(LaunchError) -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        guard rpa_pipe_cloexec(&fds) == 0 else {
            throw LaunchError(path: path, message: "pipe: \(String(cString: strerror(errno)))")
        }
        return (fds[0], fds[1])
    }
}

private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for p in pointers { free(p) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// Reaps every child of this process (handlers, and the orphaned descendants the worker adopts as
/// subreaper) and remembers the status of each, so no caller steals another's exit status.
/// Worker only: the orchestrator uses Foundation.Process, which reaps by pid itself.
public final class Reaper {
    private var statuses: [pid_t: TerminationStatus] = [:]
    /// False once waitpid said this process has no children at all (ECHILD).
    public private(set) var hasChildren = true

    public init() {}

    /// Collects every exited child without blocking.
    public func reap() {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid < 0 && errno == ECHILD { hasChildren = false }
            if pid == 0 { hasChildren = true }
            if pid <= 0 { return }
            var code: Int32 = 0
            switch rpa_decode_wait_status(status, &code) {
            case 1: statuses[pid] = .exited(code)
            case 2: statuses[pid] = .signaled(code)
            default: break
            }
        }
    }

    /// The status of `pid` once it has exited (consumed: asked once).
    public func status(of pid: pid_t) -> TerminationStatus? {
        reap()
        return statuses.removeValue(forKey: pid)
    }

    /// Forgets statuses of adopted grandchildren nobody will ask for.
    public func forgetAll() {
        statuses.removeAll()
    }
}

/// Reads `/proc` for the process tree: who descends from whom, and their resident memory.
public enum ProcessTree {
    public struct Entry: Sendable {
        public let pid: pid_t
        public let ppid: pid_t
        public let pgrp: pid_t
        public let rssBytes: Int
        public let isZombie: Bool
    }

    public static func snapshot() -> [Entry] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        var out: [Entry] = []
        for name in names {
            guard let pid = pid_t(name), let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            // fields[0] = state, [1] = ppid, [2] = pgrp, ... [21] = rss (pages)
            guard fields.count > 21, let ppid = pid_t(fields[1]), let pgrp = pid_t(fields[2]), let rss = Int(fields[21]) else { continue }
            out.append(Entry(pid: pid, ppid: ppid, pgrp: pgrp, rssBytes: rss * pageSize, isZombie: fields[0] == "Z" || fields[0] == "X"))
        }
        return out
    }

    /// Every descendant of `root` (not including it).
    public static func descendants(of root: pid_t, in entries: [Entry] = snapshot()) -> [Entry] {
        var children: [pid_t: [Entry]] = [:]
        for e in entries { children[e.ppid, default: []].append(e) }
        var out: [Entry] = []
        var stack = [root]
        while let p = stack.popLast() {
            for c in children[p] ?? [] { out.append(c); stack.append(c.pid) }
        }
        return out
    }

    /// RSS of `root` and all its descendants.
    public static func treeRSS(of root: pid_t) -> Int {
        let entries = snapshot()
        let own = entries.first { $0.pid == root }?.rssBytes ?? 0
        return own + descendants(of: root, in: entries).reduce(0) { $0 + $1.rssBytes }
    }

    /// SIGKILLs a process group and then every remaining descendant of `root` (browsers that
    /// left the group with setsid included). Repeats while new ones appear (a fork in flight).
    public static func killAll(group: pid_t?, descendantsOf root: pid_t, reaper: Reaper? = nil) {
        if let group, group > 0 { kill(-group, SIGKILL) }
        // Fast path: as subreaper, every descendant is our child or below one; none left means
        // there is nothing to scan /proc for.
        if let reaper {
            reaper.reap()
            if !reaper.hasChildren { return }
        }
        for _ in 0..<5 {
            let left = descendants(of: root).filter { !$0.isZombie }
            if left.isEmpty { return }
            for e in left { kill(e.pid, SIGKILL) }
            usleep(2_000)
        }
    }
}
