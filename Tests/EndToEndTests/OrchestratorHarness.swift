import Foundation
import OrchestratorCore
import TestSupport

/// Runs the built `orchestrator` against the test Redis with its own prefix and log directory.
struct OrchestratorHarness {
    let prefix: String
    let redis: RedisConnection
    let dir: String
    var logDir: String { "\(dir)/logs" }

    init(_ name: String) throws {
        prefix = TestEnv.uniquePrefix(name)
        redis = try TestEnv.connect()
        dir = TestEnv.scratch(name)
    }

    func keys(_ queue: String) -> QueueKeys { QueueKeys(prefix: prefix, queue: queue) }

    func start(_ args: [String], env: [String: String] = [:]) throws -> Launched {
        var environment = ["REDIS_URL": TestEnv.redisURL, "QUEUE_PREFIX": prefix, "LOG_DIR": logDir]
        environment.merge(env) { _, new in new }
        return try Launched(TestEnv.orchestrator, args, env: environment, outputPath: "\(dir)/orchestrator-\(UInt16.random(in: 0...UInt16.max)).out")
    }

    func push(_ queue: String, count: Int, tag: String = "job") throws {
        try redis.lpush(keys(queue).pending, strings: (1...max(count, 1)).prefix(count).map { "\(tag)-\(queue)-\($0)" })
    }

    var log: String { (try? String(contentsOfFile: "\(logDir)/orchestrator.log", encoding: .utf8)) ?? "" }

    func results(_ queue: String) throws -> [[String: Any]] { try redis.lrange(keys(queue).results).map(jsonObject) }
    func pending(_ queue: String) throws -> Int { try redis.llen(keys(queue).pending) }
    func processingLists(_ queue: String) throws -> [String] {
        try redis.scan(match: keys(queue).processingPattern).filter { (try? redis.llen($0)) ?? 0 > 0 }
    }

    /// Live (non-zombie) children of `pid` that are workers, with the queue from their argv.
    func workers(of pid: Int32) -> [(pid: Int32, queue: String)] {
        ProcessTree.snapshot().filter { $0.ppid == pid }.compactMap { e in
            guard let data = FileManager.default.contents(atPath: "/proc/\(e.pid)/cmdline") else { return nil }
            let args = String(decoding: data, as: UTF8.self).split(separator: "\0").map(String.init)
            guard let i = args.firstIndex(of: "--queue"), i + 1 < args.count,
                  let stat = try? String(contentsOfFile: "/proc/\(e.pid)/stat", encoding: .utf8), !stat.contains(") Z ") else { return nil }
            return (e.pid, args[i + 1])
        }
    }

    func busyWorkers() throws -> [Int32] {
        try redis.scan(match: QueueKeys.heartbeatPattern(prefix: prefix)).compactMap { key in
            let f = try redis.send(["HGETALL", RedisArg(key)]).fields
            return f["state"] == "busy" ? f["pid"].flatMap { Int32($0) } : nil
        }
    }
}
