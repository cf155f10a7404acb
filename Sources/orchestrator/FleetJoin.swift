import ArgumentParser
import Foundation
import Logging
import OrchestratorCore

/// Joins the fleet of the prefix, or exits: 73 when a live orchestrator holds our host id, 64 when
/// the live hosts run other caps. A dead orchestrator of ours on this machine (killed with -9)
/// does not block a restart.
func joinFleetOrExit(_ fleet: FleetMembership, _ redis: RedisConnection, logger: Logger) throws {
    var replacing: String?
    for _ in 0..<2 {
        let result: FleetMembership.JoinResult
        let repaired = { (fault: KeyFault) in
            logger.error("\(LogEvents.keyError)", metadata: ["key": "\(fault.key)", "error": "\(fault.error)", "action": "replaced: fleet keys hold no job"])
        }
        do { result = try fleet.join(redis, replacing: replacing, repaired: repaired) } catch {
            logger.critical("redis.unavailable", metadata: ["error": "\(error)"])
            throw ExitCode(ExitCodes.redisUnavailable)
        }
        switch result {
        case .joined:
            return
        case .held(let pid, let machine, let instance):
            if machine == fleet.machine && (pid <= 0 || kill(Int32(pid), 0) != 0) && replacing == nil {
                replacing = instance  // ours, dead: take its place (its leases expire on their own)
                continue
            }
            logger.critical("orchestrator.already_running", metadata: [
                "other": "pid \(pid) on \(machine) (host id \(fleet.hostID))", "prefix": "\(fleet.prefix)",
                "hint": "two orchestrators with one --host-id on one prefix: stop the other one, or give each host its own --host-id to share the fleet"])
            throw ExitCode(ExitCodes.alreadyRunning)
        case .capsDiffer(let host, let caps):
            logger.critical("fleet.caps_differ", metadata: [
                "other_host": "\(host)", "theirs": "\(caps)", "ours": "\(fleet.caps)",
                "hint": "--max-total, --max-per-queue, --min-per-queue and --jobs-per-worker are fleet-wide: start every host with the same values"])
            throw ExitCode(ExitCodes.usage)
        }
    }
    throw ExitCode(ExitCodes.alreadyRunning)
}
