import Foundation
import Logging

extension Supervisor {
    /// Runs a pipeline that writes or reads keys holding no job (instance, events, alerts,
    /// history, rates, heartbeats, the paused set, stats). A key the server refuses (of the wrong
    /// type) is skipped: `redis.key_error` names it once, `redis.key_ok` says when it works
    /// again; the loop goes on. Nil on a connection error.
    @discardableResult
    func pipelineReporting(_ commands: [[RedisArg]], skipped: String, exempt: Range<Int>? = nil) -> [RedisReply]? {
        guard let replies = try? link.perform({ c throws(RedisError) in try c.pipeline(commands) }) else { return nil }
        var checked = Array(zip(commands, replies))
        if let exempt { checked.removeSubrange(exempt.clamped(to: checked.indices)) }
        keyFaults.check(checked.map(\.0), checked.map(\.1), skipped: skipped, logger: logger)
        return replies
    }
}
