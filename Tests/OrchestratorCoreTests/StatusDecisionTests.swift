import Foundation
import OrchestratorCore
import Testing
import TestSupport

/// What `orchestrator status` shows (table and `--json`) for given records, read through a
/// `FakeRedis`: no redis-server. The reading of real keys is tested in the integration tests.
@Suite("Status decisions: the table and JSON from given records (FakeRedis)")
struct StatusDecisionTests {
    let prefix = "p:"
    var now: Int64 { WallClock.nowMilliseconds() }

    func instance(_ redis: FakeRedis, queues: String, extra: [String: String] = [:]) {
        redis.data[QueueKeys.instance(prefix: prefix)] = .hash(["pid": "4242", "host": "box1", "host_id": "h1", "state": "running",
                                                               "max_total": "10", "queues": queues].merging(extra) { $1 })
    }

    func report(_ redis: FakeRedis) throws -> (text: String, json: [String: Any]) {
        let report = try StatusReport.collect(redis: redis, prefix: prefix, requested: nil, fallback: [])
        let json = try JSONSerialization.jsonObject(with: Data(report.json.utf8)) as? [String: Any] ?? [:]
        return (report.table, json)
    }

    func queues(_ json: [String: Any]) -> [[String: Any]] { json["queues"] as? [[String: Any]] ?? [] }

    @Test("a queue key of the wrong type: its row says UNREADABLE and names the key; the other queue is counted")
    func wrongTypeQueue() throws {
        let redis = FakeRedis()
        instance(redis, queues: "a,b", extra: ["target:b": "2"])
        redis.data["p:a"] = .string("not a list")
        redis.data["p:b"] = .list(["j1", "j2", "j3"])
        let (text, json) = try report(redis)
        #expect(text.contains("a (UNREADABLE)"))
        #expect(text.contains("a: UNREADABLE: key p:a: WRONGTYPE"))
        let rowB = text.split(separator: "\n").first { $0.hasPrefix("b ") }.map { $0.split(separator: " ").map(String.init) }
        #expect(rowB?.prefix(5) == ["b", "3", "0", "0", "2"])  // QUEUE PENDING IN-FLIGHT RETRY TARGET
        let rows = queues(json)
        #expect(rows.map { $0["queue"] as? String } == ["a", "b"])
        #expect(rows.first?["readable"] as? Bool == false)
        #expect(rows.first?["unreadable_key"] as? String == "p:a")
        #expect(rows.last?["readable"] as? Bool == true)
        #expect(rows.last?["pending"] as? Int == 3)
        #expect(rows.last?["target"] as? Int == 2)
    }

    @Test("two hosts: the header names the fleet and its leader; a host silent for 30 s shows it in LAST SEEN")
    func twoHosts() throws {
        let redis = FakeRedis()
        instance(redis, queues: "a")
        var records: [String: String] = [:]
        for (id, age) in [("h1", Int64(0)), ("h2", Int64(30_000))] {
            records[id] = "{\"expires_at\":\(now + 60_000),\"instance\":\"i-\(id)\",\"caps\":\"\",\"pid\":10,\"machine\":\"m-\(id)\","
                + "\"state\":\"running\",\"capacity\":4,\"workers\":1,\"workers_per_queue\":{\"a\":1},\"updated_at\":\(now - age)}"
        }
        redis.data[FleetMembership.membersKey(prefix: prefix)] = .hash(records)
        let (text, json) = try report(redis)
        #expect(text.hasPrefix("fleet of 2 hosts, leader h1 orchestrator pid 4242 on box1: running"))
        let h2 = text.split(separator: "\n").first { $0.hasPrefix("h2 ") }.map(String.init) ?? ""
        #expect(h2.contains("m-h2") && h2.contains("a=1"))
        let seen = h2.split(separator: " ").reversed().dropFirst(1).first.flatMap { Double($0.dropLast()) } ?? 0  // "30.0s ago"
        #expect(seen >= 30 && seen < 3600)
        let hosts = json["hosts"] as? [[String: Any]] ?? []
        #expect(hosts.map { $0["host_id"] as? String } == ["h1", "h2"])
        #expect((hosts.last?["last_seen_seconds"] as? Double ?? 0) >= 30)
    }

    @Test("worker heartbeats: a busy worker shows its job's age; a heartbeat without a pid (half written) is not listed")
    func workerHeartbeats() throws {
        let redis = FakeRedis()
        instance(redis, queues: "a")
        redis.data[QueueKeys.heartbeat(prefix: prefix, "a-1")] = .hash(["pid": "777", "queue": "a", "slot": "1", "state": "busy",
                                                                        "job_started_at": "\(now - 90_000)", "jobs_done": "5", "host": "box1"])
        redis.data[QueueKeys.heartbeat(prefix: prefix, "a-2")] = .hash(["queue": "a", "state": "idle"])
        let (text, json) = try report(redis)
        let row = text.split(separator: "\n").first { $0.hasPrefix("777 ") }.map { $0.split(separator: " ").map(String.init) } ?? []
        #expect(row.prefix(4) == ["777", "a", "1", "busy"])
        #expect((row.count > 4 ? Double(row[4].dropLast()) : nil).map { $0 >= 90 } == true)  // JOB AGE "90.0s"
        let workers = json["workers"] as? [[String: Any]] ?? []
        #expect(workers.count == 1)
        #expect((workers.first?["job_age_seconds"] as? Double ?? 0) >= 90)
        #expect(queues(json).first?["busy"] as? Int == 1)
    }

    @Test("Redis unreachable: collect throws the connection error (status says so), it does not report an empty system")
    func unreachable() {
        let redis = FakeRedis()
        redis.failure = .connection(code: 111, message: "Connection refused")
        #expect(throws: RedisError.self) { try StatusReport.collect(redis: redis, prefix: prefix, requested: nil, fallback: ["a"]) }
    }
}
