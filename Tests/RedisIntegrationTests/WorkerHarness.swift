import Foundation
import OrchestratorCore
import TestSupport

/// Starts a standalone `worker` against the test Redis with its own key prefix.
struct WorkerHarness {
    let prefix: String
    let queue: String
    let keys: QueueKeys
    let redis: RedisConnection
    let dir: String

    init(_ name: String, queue: String = "q") throws {
        prefix = TestEnv.uniquePrefix(name)
        self.queue = queue
        keys = QueueKeys(prefix: prefix, queue: queue)
        redis = try TestEnv.connect()
        dir = TestEnv.scratch(name)
    }

    func start(handler: String, args: [String] = [], env: [String: String] = [:], slot: Int = 1) throws -> Launched {
        var environment = ["REDIS_URL": TestEnv.redisURL, "QUEUE_PREFIX": prefix]
        environment.merge(env) { _, new in new }
        return try Launched(TestEnv.worker, ["--queue", queue, "--slot", "\(slot)", "--handler", handler] + args,
                            env: environment, outputPath: "\(dir)/worker-\(slot)-\(UInt16.random(in: 0...UInt16.max)).log")
    }

    func results() throws -> [[String: Any]] { try redis.lrange(keys.results).reversed().map(jsonObject) }
    func dead() throws -> [[String: Any]] { try redis.lrange(keys.dead).map(jsonObject) }
    func pending() throws -> Int { try redis.llen(keys.pending) }
    func processing() throws -> [String] { try redis.scan(match: keys.processingPattern) }

    /// Decodes a record field that may be base64 (`<field>_encoding`).
    static func bytes(_ record: [String: Any], _ field: String) -> [UInt8] {
        guard let text = record[field] as? String else { return [] }
        if record["\(field)_encoding"] as? String == "base64" { return Array(Data(base64Encoded: text) ?? Data()) }
        return Array(text.utf8)
    }

    func heartbeatState(pid: Int32) throws -> String? {
        for key in try redis.scan(match: QueueKeys.heartbeatPattern(prefix: prefix)) {
            let fields = try redis.send(["HGETALL", RedisArg(key)]).fields
            if fields["pid"] == "\(pid)" { return fields["state"] }
        }
        return nil
    }
}
