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
        // Whoever built `environment`, a handler never gets one of our secrets.
        let envp = ChildEnvironment.withoutSecrets(environment).map { "\($0.key)=\($0.value)" }
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
