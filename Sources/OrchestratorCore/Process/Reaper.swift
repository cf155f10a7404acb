import CShims
import Foundation

/// Reaps every child of this process (handlers, and the orphaned descendants the worker adopts as
/// subreaper, such as a killed browser's renderers) and keeps the status of the ones someone
/// watches, so no caller steals another's exit status and no zombie waits for the next job.
/// Worker only: the orchestrator uses Foundation.Process, which reaps by pid itself.
public final class Reaper {
    private var watched: Set<pid_t> = []
    private var statuses: [pid_t: TerminationStatus] = [:]
    /// False once waitpid said this process has no children at all (ECHILD).
    public private(set) var hasChildren = true

    public init() {}

    /// Keep the exit status of `pid` (a handler we started) until `status(of:)` asks for it.
    public func watch(_ pid: pid_t) {
        watched.insert(pid)
        hasChildren = true
    }

    /// Collects every exited child without blocking.
    public func reap() {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid < 0 && errno == ECHILD { hasChildren = false }
            if pid == 0 { hasChildren = true }
            if pid <= 0 { return }
            guard watched.contains(pid) else { continue }  // an adopted descendant: nobody asks
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
        guard let status = statuses.removeValue(forKey: pid) else { return nil }
        watched.remove(pid)
        return status
    }

    /// Stops watching `pid` (its status is of no interest any more, e.g. after killing it).
    public func forget(_ pid: pid_t) {
        watched.remove(pid)
        statuses.removeValue(forKey: pid)
    }
}
