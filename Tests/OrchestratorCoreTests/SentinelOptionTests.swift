import Foundation
import OrchestratorCore
import Testing

@Suite("Redis Sentinel options (pure)")
struct SentinelOptionTests {
    static func resolve(_ flags: [OptionSpec: String] = [:], env: [String: String] = [:]) throws(ConfigError) -> JobSettings {
        var values = OptionValues()
        for (spec, value) in flags { values[spec] = value }
        return try JobSettings.resolve(values, OptionResolver(environment: env))
    }

    @Test("--redis-sentinel and --redis-sentinel-master give the sentinels, the master name and the password from the environment")
    func flags() throws {
        let job = try Self.resolve([.redisSentinel: "127.0.0.1:26379, sentinel-b:26380,[::1]:26381", .redisSentinelMaster: "mymaster",
                                    .redisURL: "redis://robot@ignored:1/3"],
                                   env: ["REDIS_SENTINEL_PASSWORD": "sentinel-secret", "REDIS_PASSWORD": "redis-secret"])
        let sentinel = try #require(job.redis.sentinel)
        #expect(sentinel.addresses == [.init(host: "127.0.0.1", port: 26379), .init(host: "sentinel-b", port: 26380), .init(host: "::1", port: 26381)])
        #expect(sentinel.masterName == "mymaster")
        #expect(sentinel.password == "sentinel-secret")
        #expect(job.redis.password == "redis-secret" && job.redis.db == 3 && job.redis.user == "robot")
        #expect(job.redis.description == "redis-sentinel://robot:***@127.0.0.1:26379,sentinel-b:26380,[::1]:26381/mymaster/3")
        #expect(!job.redis.description.contains("secret"))
    }

    @Test("the environment variables alone work, and no sentinel is the default")
    func environment() throws {
        let job = try Self.resolve(env: ["REDIS_SENTINELS": "10.0.0.1:26379", "REDIS_SENTINEL_MASTER": "m1"])
        #expect(job.redis.sentinel == SentinelSettings(addresses: [.init(host: "10.0.0.1", port: 26379)], masterName: "m1"))
        #expect(try Self.resolve().redis.sentinel == nil)
    }

    @Test("bad values are refused naming the flag and the variable", arguments: [
        ([OptionSpec.redisSentinel: "127.0.0.1"], [String: String](), "--redis-sentinel: expected HOST:PORT"),
        ([.redisSentinel: "127.0.0.1:0", .redisSentinelMaster: "m"], [:], "--redis-sentinel: port must be 1-65535"),
        ([.redisSentinel: "a:1,,b:2", .redisSentinelMaster: "m"], [:], "--redis-sentinel: expected HOST:PORT"),
        ([.redisSentinel: "::1:26379", .redisSentinelMaster: "m"], [:], "--redis-sentinel: bad host"),
        ([.redisSentinel: "a:1"], [:], "--redis-sentinel: needs --redis-sentinel-master NAME (env REDIS_SENTINEL_MASTER)"),
        ([.redisSentinelMaster: "m"], [:], "--redis-sentinel-master: only with --redis-sentinel"),
        ([:], ["REDIS_SENTINELS": "a:x", "REDIS_SENTINEL_MASTER": "m"], "--redis-sentinel (from REDIS_SENTINELS): port must be"),
        ([:], ["REDIS_SENTINELS": "a:1", "REDIS_SENTINEL_MASTER": " "], "--redis-sentinel-master (from REDIS_SENTINEL_MASTER): expected a master name"),
    ])
    func bad(flags: [OptionSpec: String], env: [String: String], message: String) {
        do {
            _ = try Self.resolve(flags, env: env)
            Issue.record("should be refused: \(flags) \(env)")
        } catch {
            #expect(error.description.hasPrefix(message), "\(error.description)")
        }
    }

    @Test("workers get the sentinels and the master name in their environment, the sentinel password only on stdin")
    func workerEnvironment() throws {
        var flags = OrchestratorSettings.Flags.with(handlers: ["q=cat"])
        flags.queues = ["q"]
        flags.values[.redisSentinel] = "127.0.0.1:26379"
        flags.values[.redisSentinelMaster] = "mymaster"
        let settings = try OrchestratorSettings.resolve(flags, OptionResolver(environment: ["REDIS_SENTINEL_PASSWORD": "sentinel-secret"]),
                                                        defaultWorkerPath: "/bin/true")
        let env = settings.workerEnvironment(base: ["REDIS_SENTINEL_PASSWORD": "sentinel-secret", "RPA_USER": "u"], queue: "q", orchestratorPID: 1)
        #expect(env["RPA_SECRETS_ON_STDIN"] == "1" && env["RPA_USER"] == "u")
        #expect(settings.workerStdinLine == " sentinel-secret\n")
        #expect(env["REDIS_SENTINELS"] == "127.0.0.1:26379")
        #expect(env["REDIS_SENTINEL_MASTER"] == "mymaster")
        #expect(!env.values.contains { $0.contains("sentinel-secret") })
    }

    @Test("the stdin line carries both passwords, percent-encoded, and a standalone worker hands the sentinel one over too")
    func stdinLine() throws {
        let line = ChildEnvironment.stdinLine(redisPassword: "a b", sentinelPassword: "s p\nq")
        #expect(line == "a%20b s%20p%0Aq\n")
        let parsed = ChildEnvironment.parseStdinLine(String(line.dropLast()))
        #expect(parsed.redis == "a b" && parsed.sentinel == "s p\nq")
        #expect(ChildEnvironment.parseStdinLine("pw") == ("pw", nil))
        #expect(ChildEnvironment.parseStdinLine(" sp") == (nil, "sp"))
        let h = try #require(ChildEnvironment.handoff(["REDIS_SENTINEL_PASSWORD": "sp", "REDIS_SENTINELS": "h:1"]))
        #expect(h.environment == ["REDIS_SENTINELS": "h:1", "RPA_SECRETS_ON_STDIN": "1"] && h.stdinLine == " sp\n")
        #expect(ChildEnvironment.withoutSecrets(["REDIS_SENTINEL_PASSWORD": "sp"]).isEmpty)
    }

    @Test("READONLY replies (plain or from inside a script) and UNBLOCKED mean: ask the sentinels again")
    func readOnly() {
        #expect(SentinelDiscovery.isReadOnlyError("READONLY You can't write against a read only replica."))
        #expect(SentinelDiscovery.isReadOnlyError("ERR Error running script (call to f_1): @user_script:1: -READONLY You can't write against a read only replica."))
        #expect(SentinelDiscovery.isReadOnlyError("UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)"))
        #expect(RedisError.server("NOREPLICAS Not enough good replicas to write.").isTransient)
        #expect(!SentinelDiscovery.isReadOnlyError("WRONGTYPE Operation against a key holding the wrong kind of value"))
    }
}
