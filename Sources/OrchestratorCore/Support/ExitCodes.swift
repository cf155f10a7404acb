import Foundation

/// Exit codes of both executables (documented in the README).
public enum ExitCodes {
    /// Clean stop or completed drain.
    public static let ok: Int32 = 0
    /// Bad flags or environment; the message names the flag.
    public static let usage: Int32 = 64
    /// Redis unreachable at start after retries, or wrong credentials.
    public static let redisUnavailable: Int32 = 69
    /// Internal error.
    public static let software: Int32 = 70
    /// Worker only: recycled after `--max-jobs-per-worker` or `--max-worker-rss-mb`; the
    /// orchestrator replaces it at once, without crash backoff.
    public static let recycle: Int32 = 75
    /// Orchestrator only: another live orchestrator already supervises this prefix.
    public static let alreadyRunning: Int32 = 73
    /// `orchestrator status`: no orchestrator is running (LSB "program is not running").
    public static let notRunning: Int32 = 3
}

/// How a process ended, converted once at the boundary (mirrors swift-subprocess).
public enum TerminationStatus: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    public var isSuccess: Bool { self == .exited(0) }

    public var description: String {
        switch self {
        case .exited(let code): return "exit \(code)"
        case .signaled(let sig): return "signal \(sig) (\(signalName(sig)))"
        }
    }
}

extension TerminationStatus {
    /// Converts Foundation's `terminationReason` + `terminationStatus`, once, at the boundary.
    public init(_ process: Process) {
        self = process.terminationReason == .uncaughtSignal ? .signaled(process.terminationStatus) : .exited(process.terminationStatus)
    }
}

public func signalName(_ sig: Int32) -> String {
    switch sig {
    case 1: return "SIGHUP"
    case 2: return "SIGINT"
    case 6: return "SIGABRT"
    case 9: return "SIGKILL"
    case 11: return "SIGSEGV"
    case 15: return "SIGTERM"
    default: return "SIG\(sig)"
    }
}
