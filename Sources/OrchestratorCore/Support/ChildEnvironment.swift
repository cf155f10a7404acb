import CShims
import Foundation

/// The product's own secrets, kept out of every process it starts (workers, handlers, the alert
/// command): a handler runs untrusted pages and can print its environment, and it can read
/// `/proc/<worker pid>/environ` (the worker's *initial* environment, whatever unsetenv does later).
/// So a worker never has the Redis password in its environment at all: the orchestrator (or the
/// worker itself, re-executing) hands it over on the worker's stdin, one line read at start.
public enum ChildEnvironment {
    /// Variables that hold, or point at, a secret of ours.
    public static let secretNames: Set<String> = ["REDIS_PASSWORD", "REDIS_SENTINEL_PASSWORD", "HTTP_TOKEN", "HTTP_TOKEN_FILE"]
    /// Set in a worker's environment when its stdin carries the Redis password (one line, percent-encoded).
    public static let passwordOnStdin = "RPA_SECRETS_ON_STDIN"

    /// `env` without our secrets: the names above, and `REDIS_URL` when it carries a password (or
    /// does not parse). The operator's own variables (RPA_USER, RPA_PASSWORD…) stay.
    public static func withoutSecrets(_ env: [String: String]) -> [String: String] {
        var out = env
        for name in secretNames { out[name] = nil }
        if let url = env["REDIS_URL"], urlHasPassword(url) { out["REDIS_URL"] = nil }
        out[passwordOnStdin] = nil
        return out
    }

    /// Whether a Redis URL carries a password (a URL that does not parse counts as one).
    public static func urlHasPassword(_ url: String) -> Bool {
        guard let endpoint = try? RedisEndpoint.parse(url) else { return true }
        return endpoint.password != nil
    }

    /// What a worker started with `env` needs to get instead: the environment without any secret
    /// (the URL without its password), and the line to write on its stdin (nil: no password).
    /// nil when `env` holds no secret, or a URL that does not parse (the worker then reports it).
    public static func handoff(_ env: [String: String]) -> (environment: [String: String], stdinLine: String)? {
        guard env[passwordOnStdin] == nil, env.keys.contains(where: { secretNames.contains($0) }) || env["REDIS_URL"].map(urlHasPassword) == true
        else { return nil }
        var password = env["REDIS_PASSWORD"]
        var out = withoutSecrets(env)
        if let url = env["REDIS_URL"] {
            guard let endpoint = try? RedisEndpoint.parse(url) else { return nil }
            if let p = endpoint.password { password = p }
            out["REDIS_URL"] = endpoint.urlWithoutPassword
        }
        out[passwordOnStdin] = "1"
        return (out, stdinLine(redisPassword: password, sentinelPassword: env["REDIS_SENTINEL_PASSWORD"]))
    }

    /// The line on a worker's stdin: the Redis password, then, after a space, the sentinels'
    /// password when there is one; each percent-encoded (so neither holds a space or a newline).
    public static func stdinLine(redisPassword: String?, sentinelPassword: String?) -> String {
        var line = redisPassword.map(PercentEncoding.encode) ?? ""
        if let sentinelPassword { line += " " + PercentEncoding.encode(sentinelPassword) }
        return line + "\n"
    }

    /// The two passwords of a `stdinLine` (without its newline); an empty field is nil.
    public static func parseStdinLine(_ line: String) -> (redis: String?, sentinel: String?) {
        let fields = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        func field(_ i: Int) -> String? { i < fields.count && !fields[i].isEmpty ? PercentEncoding.decode(fields[i]) : nil }
        return (field(0), field(1))
    }

    /// The worker's side: reads the line on stdin (waiting at most `timeout`), then points stdin
    /// at /dev/null. Returns the passwords (nil for an empty field); throws a message on failure.
    public static func receivePasswords(timeout: Duration = .seconds(10)) throws(ConfigError) -> (redis: String?, sentinel: String?) {
        var line: [UInt8] = []
        let deadline = ContinuousClock().now + timeout
        var done = false
        while !done {
            var p = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
            let left = deadline - ContinuousClock().now
            guard left > .zero, poll(&p, 1, Int32(max(1, left.milliseconds))) > 0 else {
                throw ConfigError(flag: passwordOnStdin, message: "set, but no password line arrived on stdin within \(timeout.seconds) s")
            }
            var byte: UInt8 = 0
            let n = read(0, &byte, 1)
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            if n <= 0 || byte == UInt8(ascii: "\n") { done = true } else { line.append(byte) }
        }
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        if null >= 0 { dup2(null, 0); close(null) }
        return parseStdinLine(String(decoding: line, as: UTF8.self))
    }

    /// A standalone worker (systemd, Kubernetes) started with a secret in its environment
    /// re-executes itself once, same pid and arguments, with the environment cleaned and the
    /// password on stdin, so `/proc/<pid>/environ` no longer holds it. Returns only when there is
    /// nothing to do or the exec failed (the worker then runs as it is).
    public static func reexecWithoutSecrets(_ env: [String: String]) {
        guard let (clean, line) = handoff(env) else { return }
        var fds: [Int32] = [-1, -1]
        guard rpa_pipe_cloexec(&fds) == 0 else { return }
        let bytes = Array(line.utf8)
        let written = bytes.withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) }
        close(fds[1])
        guard written == bytes.count, dup2(fds[0], 0) == 0 else { close(fds[0]); return }
        close(fds[0])
        let argv = CommandLine.arguments.map { strdup($0) } + [nil]
        let envp = clean.map { strdup("\($0.key)=\($0.value)") } + [nil]
        execve("/proc/self/exe", argv, envp)
        // Only reached when exec failed: stdin now holds the line, so read it back.
        _ = try? receivePasswords(timeout: .milliseconds(100))
    }
}
