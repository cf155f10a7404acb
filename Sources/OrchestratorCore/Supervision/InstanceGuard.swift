import Foundation

/// Another orchestrator already supervising this prefix (two would double every worker count).
public enum InstanceGuard {
    /// A description of the live orchestrator holding `prefix`, or nil when none does. A heartbeat
    /// left by a dead process on this host (killed with -9 less than 10 s ago) does not count.
    public static func otherInstance(redis: RedisConnection, prefix: String, host: String, pid: Int32) throws(RedisError) -> String? {
        let fields = try redis.send(["HGETALL", RedisArg(QueueKeys.instance(prefix: prefix))]).fields
        guard let otherPID = fields["pid"].flatMap({ Int32($0) }), let otherHost = fields["host"] else { return nil }
        if otherHost == host {
            if otherPID == pid || kill(otherPID, 0) != 0 { return nil }
        }
        return "pid \(otherPID) on \(otherHost) (\(fields["state"] ?? "running"))"
    }
}
