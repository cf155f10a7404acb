import Foundation
@testable import OrchestratorCore
import Testing
import TestSupport

/// Each record's readers read what its writer wrote, through a real redis-server: the worker's
/// heartbeat, the orchestrator's instance hash, the stats the take scripts and workers count,
/// and the events stream.
@Suite("record readers read what the writers wrote", .requiresRedis)
struct RecordReadersTests {
    let redis: RedisConnection
    let prefix: String

    init() throws {
        redis = try TestEnv.connect()
        prefix = TestEnv.uniquePrefix("rec")
    }

    func write(_ key: String, _ fields: [(String, String)]) throws {
        for reply in try redis.pipeline(Heartbeat.commands(key: key, fields: fields, replace: true)) {
            if case .error(let message) = reply { Issue.record("\(message)") }
        }
    }

    @Test("status shows a worker's heartbeat as the worker wrote it")
    func heartbeat() throws {
        let beat = WorkerHeartbeat(worker: "q-1-h-900001", queue: "q", slot: 1, pid: 900_001, host: "h", state: .busy,
                                   jobStartedAt: WallClock.nowMilliseconds() - 2000, jobsDone: 5,
                                   memory: ProcessTree.Memory(rssBytes: 4096, pssBytes: 2048, processes: 2), startedAt: 77,
                                   orchestratorPID: nil, handlerPID: 900_002)
        try write(QueueKeys.heartbeat(prefix: prefix, beat.worker), beat.fields)
        let read = WorkerHeartbeat(fields: try redis.send(["HGETALL", RedisArg(QueueKeys.heartbeat(prefix: prefix, beat.worker))]).fields)
        #expect(read == beat, "the supervisor's poll decodes the same hash")
        let report = try StatusReport.collect(redis: redis, prefix: prefix, requested: nil, fallback: [])
        let row = try #require(report.workers.first)
        #expect(report.workers.count == 1 && row.id == beat.worker && row.pid == 900_001 && row.state == "busy" && row.slot == 1)
        #expect(row.jobsDone == 5 && row.rssBytes == 4096 && row.pssBytes == 2048 && row.processes == 2 && row.startedAt == 77)
        #expect((row.jobAgeSeconds ?? 0) >= 2)
        #expect(report.queues.map(\.name) == ["q"] && report.queues.first?.busy == 1)
    }

    @Test("status shows the orchestrator's instance record: who runs, and each queue's target, rates and limit")
    func instance() throws {
        var r = InstanceRecord()
        r.pid = 4242; r.host = "box"; r.state = .running; r.queues = ["a", "b"]; r.maxTotal = 6; r.hostID = "h1"; r.jobTimeoutMilliseconds = 1500
        var a = InstanceRecord.QueueFigures()
        a.target = 4; a.workers = 3; a.limit = ("max_per_queue", 9); a.jobsPerMinute = [2, 3.5, nil]; a.etaSeconds = 12; a.serviceRate = 0.75
        r.perQueue = ["a": a, "b": InstanceRecord.QueueFigures()]
        try write(QueueKeys.instance(prefix: prefix), r.fields)
        let report = try StatusReport.collect(redis: redis, prefix: prefix, requested: nil, fallback: [])
        #expect(report.instance == r)
        #expect(report.queues.map(\.name) == ["a", "b"])
        let row = try #require(report.queues.first)
        #expect(row.target == 4 && row.limitedBy == "max_per_queue" && row.wanted == 9 && row.jobsPerMinute == [2, 3.5, nil])
        #expect(row.etaSeconds == 12 && row.serviceRate == 0.75 && report.queues.last?.target == 0)
        #expect(report.rawTable.hasPrefix("orchestrator pid 4242 on box: running, max total 6\n"))
    }

    @Test("status and the stats reader count what the take scripts and a worker's durations wrote")
    func stats() throws {
        let keys = QueueKeys(prefix: prefix, queue: "q")
        let q = RedisJobQueue(redis: redis, keys: keys, workerID: "w")
        for job in ["j1", "j2", "j3"] { _ = try redis.send(["LPUSH", RedisArg(keys.pending), RedisArg(job)]) }
        for _ in 0..<2 {
            let element = try #require(try q.tryPop())
            _ = try q.complete(record: Array("r".utf8), element: element)
        }
        let element = try #require(try q.tryPop())
        _ = try q.fail(ClaimedJob(element: element), error: "e", attempt: 3, maxAttempts: 3, deadEntry: Array("d".utf8), record: Array("r".utf8),
                       retryAtMilliseconds: 0, tag: "t")
        var counts: [String: Int64] = [:]
        for ms in [80, 1500] as [Int64] { QueueStats.add(durationMilliseconds: ms, to: &counts) }
        #expect(try q.addDurations(counts) == nil)
        let stats = QueueStats(fields: try redis.send(["HGETALL", RedisArg(keys.stats)]).fields)
        #expect(stats.done == 2 && stats.failed == 1 && stats.dead == 1)
        #expect(stats.histogram.count == 2 && stats.histogram.sum == 1.58)
        let row = try #require(try StatusReport.collect(redis: redis, prefix: prefix, requested: ["q"], fallback: []).queues.first)
        #expect(row.done == 2 && row.failed == 1 && row.deadTotal == 1 && row.dead == 1)
    }

    @Test("`events` reads the events the orchestrator's log wrote")
    func events() throws {
        var log = EventLog(prefix: prefix, maxLength: 100, host: "h1")
        log.record("pause", [("queue", "q")], milliseconds: 1_000)
        _ = try redis.pipeline(log.commands)
        let read = try EventReader.range(redis, key: log.key, sinceMilliseconds: 0)
        #expect(read.map(\.type) == ["pause"])
        #expect(read.first?.fields.map { "\($0.0)=\($0.1)" } == ["type=pause", "ts=1000", "host=h1", "queue=q"])
    }
}
