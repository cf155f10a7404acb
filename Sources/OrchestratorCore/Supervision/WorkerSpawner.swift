import Foundation
import Logging

/// Starts workers for the slots the fleet granted: builds each launch (argv, environment, log
/// file, the fence), launches it through the launcher it is given, and returns what it did. It
/// holds no state: the Supervisor adds the started workers to its table and gives back the slots
/// of the launches that failed.
struct WorkerSpawner {
    let settings: OrchestratorSettings
    let baseEnvironment: [String: String]
    /// Ours: the workers' `RPA_ORCHESTRATOR_PID`.
    let orchestratorPID: Int32
    let logger: Logger

    struct Outcome {
        /// Each worker started, with its slot lease.
        var started: [(worker: SupervisedWorker, lease: Int)] = []
        /// Leases not used: a launch of their queue failed (the rest of that queue waits for the next poll).
        var unused: [(queue: String, lease: Int)] = []
        /// Queues whose launch failed (their restart backoff counts it as a crash).
        var failed: [String] = []
    }

    /// Launches one worker per grant, each in its queue's lowest local slot not in `slotsInUse`.
    func spawn(_ grants: [(queue: String, slot: Int)], slotsInUse: [String: Set<Int>], launcher: ProcessLauncher,
               fence: FleetMembership, now: ContinuousClock.Instant) -> Outcome {
        var out = Outcome()
        var used = slotsInUse
        for (queue, lease) in grants {
            guard !out.failed.contains(queue) else {
                out.unused.append((queue, lease))
                continue
            }
            let slot = Self.lowestFree(used[queue] ?? [])
            do {
                let child = try launcher.launch(spec(queue, slot: slot).fenced(by: fence, slot: lease, queue: queue))
                used[queue, default: []].insert(slot)
                let id = QueueKeys.workerID(queue: queue, slot: slot, host: settings.fleet.hostID, pid: child)
                out.started.append((SupervisedWorker(pid: child, queue: queue, slot: slot, id: id, startedAt: now), lease))
            } catch {
                logger.error("worker.launch_failed", metadata: ["queue": "\(queue)", "error": "\(error)"])
                out.failed.append(queue)
                out.unused.append((queue, lease))
            }
        }
        return out
    }

    /// The launch of the worker of `queue` in local slot `slot`.
    func spec(_ queue: String, slot: Int) -> LaunchSpec {
        LaunchSpec(executable: settings.workerPath, arguments: ["--queue", queue, "--slot", "\(slot)"],
                   environment: settings.workerEnvironment(base: baseEnvironment, queue: queue, orchestratorPID: orchestratorPID),
                   logPath: "\(settings.logDir)/worker-\(queue)-\(slot).log", stdinLine: settings.workerStdinLine)
    }

    /// The lowest slot from 1 up not in `used`.
    static func lowestFree(_ used: Set<Int>) -> Int {
        var slot = 1
        while used.contains(slot) { slot += 1 }
        return slot
    }
}
