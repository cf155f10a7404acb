import Foundation

/// Checks at start-up that a handler command can run, so a typo fails the start (exit 64) instead
/// of sending every job to the dead letters within a millisecond.
public enum HandlerCheck {
    public static let defaultPath = "/usr/local/bin:/usr/bin:/bin"

    /// Why a plain-word command cannot start (its executable is missing or not executable), or
    /// nil. Commands with shell syntax are not checked here (see `warning`).
    public static func problem(_ command: String, path: String?) -> String? {
        guard let words = ChildProcess.simpleWords(command), let program = words.first else { return nil }
        return missing(program, path: path)
    }

    /// For a command with shell syntax: a warning when its first word is a program that cannot be
    /// found (the shell may still define it, so this does not stop the start).
    public static func warning(_ command: String, path: String?) -> String? {
        guard ChildProcess.simpleWords(command) == nil else { return nil }
        let first = command.trimmingCharacters(in: .whitespaces).split(whereSeparator: { " \t;&|<>()".contains($0) }).first.map(String.init) ?? ""
        guard !first.isEmpty, first.allSatisfy({ $0.isLetter || $0.isNumber || "/._-+".contains($0) }), !shellWords.contains(first) else { return nil }
        return missing(first, path: path).map { "\($0) (the command runs through /bin/sh -c, so this is only a warning)" }
    }

    static func missing(_ program: String, path: String?) -> String? {
        if program.contains("/") {
            if !FileManager.default.fileExists(atPath: program) { return "'\(program)' does not exist" }
            return isExecutable(program) ? nil : "'\(program)' is not executable"
        }
        for dir in (path ?? defaultPath).split(separator: ":") where isExecutable("\(dir)/\(program)") {
            return nil
        }
        return "'\(program)' is not found in PATH (\(path ?? defaultPath))"
    }

    /// A regular file we may execute (for root too: at least one execute bit must be set).
    static func isExecutable(_ path: String) -> Bool {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_mode & 0o111 != 0 else { return false }
        return access(path, X_OK) == 0
    }

    static let shellWords: Set<String> = ["if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac",
                                          "exec", "cd", "export", "set", "unset", "eval", "source", ".", "exit", "read", "trap", "ulimit",
                                          "umask", "echo", "printf", "test", "true", "false", "[", "{", "!", "command", "type", "wait", "sleep"]
}
