@testable import OrchestratorCore
import Testing
import TestSupport

/// `PollReader`: one read of Redis per poll, against a `FakeRedis` (the scripts and the wire are
/// tested against redis-server). It returns a `PollReading` and keeps its timers and the last reading.
@Suite("PollReader: one read per poll (FakeRedis)")
struct PollReaderTests {
    let redis = FakeRedis()
    let log = LineLog()
    static let beat = WorkerHeartbeat(worker: "a-1-h-41", queue: "a", slot: 1, pid: 41, host: "h", state: .busy, jobStartedAt: 1_700_000_000_123,
                                      jobsDone: 7, memory: ProcessTree.Memory(rssBytes: 3000, pssBytes: 2000, processes: 3), startedAt: 1_699_999_999_000,
                                      orchestratorPID: 40, handlerPID: 42)

    func settings() throws -> OrchestratorSettings {
        var flags = OrchestratorSettings.Flags()
        flags.queues = ["a", "b"]
        flags.handlers = ["a=cat", "b=cat"]
        flags.values[.redisURL] = "redis://fake:6379/0"
        flags.values[.prefix] = "p:"
        return try OrchestratorSettings.resolve(flags, OptionResolver(environment: [:]), defaultWorkerPath: "/bin/true")
    }

    func reader() throws -> PollReader {
        let settings = try settings()
        redis.answer(script: QueueScripts.promote) { _, _ in .integer(0) }
        let link = RedisLink(connection: redis, logger: log.logger)
        let lengths = LengthSource(settings: settings, endpoint: redis.endpoint, inbox: EventInbox(), logger: log.logger, watched: ["a", "b"])
        return PollReader(settings: settings, link: link, lengthSource: lengths, logger: log.logger)
    }

    @Test("one read: each queue's length or its key's error, the paused set, a worker's heartbeat; idle workers' heartbeats and stats are not read again until due, the last stats are kept")
    func oneRead() throws {
        let reader = try reader()
        var faults = KeyFaults()
        redis.data["p:a"] = .list(["1", "2", "3"])
        redis.data["p:b"] = .hash(["oops": "1"])
        redis.data[QueueKeys.paused(prefix: "p:")] = .set(["a"])
        redis.data[QueueKeys.heartbeat(prefix: "p:", "w1")] = .hash(Dictionary(Self.beat.fields, uniquingKeysWith: { $1 }))
        redis.data[QueueKeys(prefix: "p:", queue: "a").stats] = .hash(["done": "5"])
        let idle = [PollReader.WorkerRef(pid: 41, id: "w1", changing: false)]
        let first = try #require(reader.read(workers: idle, readsStats: true, keyFaults: &faults))
        #expect(first.lengths == ["a": 3] && first.keyErrors["b"]?.hasPrefix("WRONGTYPE") == true && first.paused == ["a"])
        #expect(first.heartbeats[41] == Self.beat && QueueStats(fields: first.stats["a"] ?? [:]).done == 5)
        redis.data[QueueKeys(prefix: "p:", queue: "a").stats] = .hash(["done": "9"])
        let heartbeatReads = redis.sent("HGETALL").count
        let second = try #require(reader.read(workers: idle, readsStats: true, keyFaults: &faults))
        #expect(second.heartbeats.isEmpty && redis.sent("HGETALL").count == heartbeatReads, "an idle worker's heartbeat waits for its period; no stats read")
        #expect(QueueStats(fields: second.stats["a"] ?? [:]).done == 5 && QueueStats(fields: reader.last.stats["a"] ?? [:]).done == 5)
        let busy = [PollReader.WorkerRef(pid: 41, id: "w1", changing: true)]
        #expect(try #require(reader.read(workers: busy, readsStats: true, keyFaults: &faults)).heartbeats[41] == Self.beat, "a busy one every poll")
    }

    @Test("Redis down: no reading (nil), and the last reading stays")
    func down() throws {
        let reader = try reader()
        var faults = KeyFaults()
        redis.data["p:a"] = .list(["1"])
        _ = reader.read(workers: [], readsStats: false, keyFaults: &faults)
        redis.failure = .connection(code: 111, message: "Connection refused")
        redis.close()
        #expect(reader.read(workers: [], readsStats: false, keyFaults: &faults) == nil)
        #expect(reader.last.lengths == ["a": 1, "b": 0])
    }

    @Test("absorbing a reading: a key error holds its queue and a pause stops one, each logged once and logged again when it ends; a heartbeat makes its worker ready and busy")
    func absorb() throws {
        let settings = try settings()
        var queues = ["a": SupervisedQueue(), "b": SupervisedQueue()]
        var workers: [Int32: SupervisedWorker] = [41: SupervisedWorker(pid: 41, queue: "a", slot: 1, id: "w1", startedAt: ContinuousClock().now)]
        var reading = PollReading()
        reading.lengths = ["a": 7]
        reading.keyErrors = ["b": "WRONGTYPE x"]
        reading.paused = ["a"]
        reading.heartbeats = [41: Self.beat, 99: Self.beat]
        #expect(reading.absorb(into: &queues, workers: &workers, settings: settings, logger: log.logger, now: ContinuousClock().now) == [41])
        _ = reading.absorb(into: &queues, workers: &workers, settings: settings, logger: log.logger, now: ContinuousClock().now)
        #expect(log.lines == ["queue.unreadable", "queue.paused"])
        #expect(queues["a"]?.pending == 7 && queues["a"]?.isPaused == true && queues["b"]?.unreadable == "WRONGTYPE x")
        #expect(workers[41]?.isBusy == true && workers[41]?.handlerPID == 42 && workers[41]?.lifecycle.state != .launching)
        reading.keyErrors = [:]
        reading.lengths["b"] = 2
        reading.paused = []
        _ = reading.absorb(into: &queues, workers: &workers, settings: settings, logger: log.logger, now: ContinuousClock().now)
        #expect(log.lines == ["queue.unreadable", "queue.paused", "queue.readable", "queue.resumed"] && queues["b"]?.pending == 2)
    }
}
