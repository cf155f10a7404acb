@testable import OrchestratorCore
import Logging
import Testing

/// Each Redis record type decodes what it encodes (pure: no Redis), so its writer and readers
/// cannot drift; the key names are pinned to what the README documents.
@Suite("Redis records: round trips and key names (pure)")
struct RedisRecordTests {
    static func dict(_ fields: [(String, String)]) -> [String: String] { Dictionary(fields, uniquingKeysWith: { $1 }) }

    static let busy = WorkerHeartbeat(worker: "q-2-h-41", queue: "q", slot: 2, pid: 41, host: "h", state: .busy, jobStartedAt: 1_700_000_000_123,
                                      jobsDone: 7, memory: ProcessTree.Memory(rssBytes: 3000, pssBytes: 2000, processes: 3), startedAt: 1_699_999_999_000,
                                      orchestratorPID: 40, handlerPID: 42)

    @Test("a worker heartbeat reads back as written, busy or idle")
    func heartbeatRoundTrip() {
        var idle = Self.busy
        idle.state = .idle; idle.jobStartedAt = nil; idle.handlerPID = nil; idle.orchestratorPID = nil
        for beat in [Self.busy, idle] { #expect(WorkerHeartbeat(fields: Self.dict(beat.fields)) == beat) }
        #expect(Self.dict(Self.busy.fields)["handler_pid"] == "42" && Self.dict(idle.fields)["job_started_at"] == "", "the README's field names")
    }

    @Test("a hash without pid or queue is not a heartbeat; an old worker's (no PSS) reads its RSS as PSS")
    func heartbeatPartial() {
        var f = Self.dict(Self.busy.fields)
        f["pss_bytes"] = nil
        #expect(WorkerHeartbeat(fields: f)?.memory.pssBytes == 3000)
        #expect(WorkerHeartbeat(fields: ["queue": "q"]) == nil && WorkerHeartbeat(fields: ["pid": "1"]) == nil)
    }

    @Test("queue stats read back as written; the histogram sums the worker's duration counts")
    func statsRoundTrip() {
        var counts: [String: Int64] = [:]
        for ms in [50, 400, 400, 700_000] as [Int64] { QueueStats.add(durationMilliseconds: ms, to: &counts) }
        let written = QueueStats(done: 3, failed: 2, dead: 1, durations: counts.filter { $0.key != "dur_ms_sum" }.mapValues { Int($0) },
                                 durationSumMilliseconds: counts["dur_ms_sum"])
        let read = QueueStats(fields: Self.dict(written.fields))
        #expect(read == written)
        #expect(read.histogram.count == 4 && read.histogram.sum == 700.85)
        #expect(read.histogram.buckets.map(\.1) == [1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4])
        #expect(read.histogram.buckets.map(\.0) == JobDuration.buckets.map(JobDuration.label) + ["+Inf"])
        #expect(QueueStats(fields: [:]) == QueueStats() && QueueStats(fields: [:]).durationSumMilliseconds == nil)
    }

    @Test("the instance record reads back as written, per queue")
    func instanceRoundTrip() {
        var r = InstanceRecord()
        r.pid = 12; r.host = "box"; r.startedAt = 5; r.state = .draining; r.queues = ["a", "b:c"]; r.maxTotal = 9; r.updatedAt = 6
        r.hostID = "h1"; r.hosts = 2; r.jobTimeoutMilliseconds = 30_000; r.maxWorkerRSSMB = 512
        var a = InstanceRecord.QueueFigures()
        a.target = 3; a.workers = 2; a.limit = ("max_total", 5); a.jobsPerMinute = [1.5, nil, 12.25]; a.etaSeconds = 40
        a.serviceRate = 0.5; a.arrivalRate = 0.25; a.drainSeconds = 80
        r.perQueue = ["a": a, "b:c": InstanceRecord.QueueFigures()]
        let f = Self.dict(r.fields)
        #expect(InstanceRecord(fields: f) == r)
        #expect(f["target:a"] == "3" && f["limit:a"] == "max_total:5" && f["jpm1:a"] == "1.50" && f["jpm5:a"] == nil && f["workers:b:c"] == "0")
        #expect(InstanceRecord(fields: [:]) == nil)
    }

    @Test("a queue's instance figures: alone, our target and workers; in a fleet, the fleet's; a limit only with jobs waiting")
    func instanceFigures() {
        var s = SupervisedQueue()
        s.pending = 120
        s.target = QueueTarget(demand: 12, allotted: 4, limitedBy: .maxTotal(wanted: 12, cap: 4))
        s.fleetTarget = 10
        let rates = (one: Double?.none, five: Double?.some(30), fifteen: Double?.none)
        let alone = InstanceRecord.figures(s, several: false, fleetWorkers: 9, ourWorkers: 3, jobsPerMinute: rates)
        #expect(alone.target == 4 && alone.workers == 3 && alone.limit?.kind == "max_total" && alone.limit?.wanted == 12)
        #expect(alone.jobsPerMinute == [nil, 30, nil] && alone.etaSeconds == 240)
        let fleet = InstanceRecord.figures(s, several: true, fleetWorkers: 9, ourWorkers: 3, jobsPerMinute: nil)
        #expect(fleet.target == 10 && fleet.workers == 9 && fleet.etaSeconds == nil)
        s.pending = 0
        #expect(InstanceRecord.figures(s, several: false, fleetWorkers: 0, ourWorkers: 0, jobsPerMinute: nil).limit == nil)
    }

    @Test("a history sample's fields are named and ordered as QueueHistory.Field says")
    func historySampleFields() {
        var h = QueueHistory()
        var r = QueueHistory.Reading()
        #expect(h.observe(r, wallMilliseconds: 60_000) == nil)
        r.done = 4
        let sample = h.observe(r, wallMilliseconds: 120_000) ?? []
        #expect(sample.map(\.0) == QueueHistory.Field.allCases.map(\.rawValue))
        #expect(Self.dict(sample)["done"] == "4")
    }

    @Test("events start with type, ts and host")
    func eventFields() {
        var log = EventLog(prefix: "p:", maxLength: 10, host: "h1")
        log.record("pause", [("queue", "q")], milliseconds: 9)
        #expect(log.buffer.first?.map(\.0) == ["type", "ts", "host", "queue"])
        #expect(EventReader.Event(id: "1-0", fields: log.buffer.first ?? []).type == "pause")
    }

    @Test("fleet keys, by orchestrators and fenced workers alike, are the documented names")
    func fleetKeys() {
        let k = QueueKeys.fleet(prefix: "fila:")
        #expect([k.members, k.leases, k.counts, k.slot(3), k.epoch, k.reclaim]
                == ["orchestrator:fila:fleet:members", "orchestrator:fila:fleet:leases", "orchestrator:fila:fleet:counts", "orchestrator:fila:fleet:slot:3",
                    "orchestrator:fila:fleet:epoch", "orchestrator:fila:fleet:reclaim"])
        let fence = LeaseFence(key: k.slot(3), holder: "h1\ni\nq", marginMilliseconds: 1000)
        #expect(fence.args(k).map { String(decoding: $0.bytes, as: UTF8.self) }.suffix(2) == ["orchestrator:fila:fleet:epoch", "orchestrator:fila:fleet:reclaim"])
    }

    @Test("an alert as the delivery publishes it reads back as AlertRecord, and AlertRecord writes the same bytes")
    func alertRecord() throws {
        var flags = OrchestratorSettings.Flags()
        flags.queues = ["q"]
        flags.handlers = ["q=cat"]
        let settings = try OrchestratorSettings.resolve(flags, OptionResolver(environment: [:]), defaultWorkerPath: "/bin/true")
        let delivery = AlertDelivery(settings: settings, host: "h1", logger: Logger(label: "t") { _ in SwiftLogNoOpLogHandler() }, environment: [:])
        let now = ContinuousClock().now
        let n = AlertNotification(kind: .fired, rule: .deadLetters, queue: "q", message: "3 \"dead\" jobs", since: now - .seconds(60))
        let published = delivery.alertJSON(n, now: now)
        let record = try #require(AlertRecord(json: published))
        #expect(record.rule == "dead_letters" && record.queue == "q" && record.state == "fired" && record.severity == "warning")
        #expect(record.message == "3 \"dead\" jobs" && record.host == "h1" && record.since != nil && record.at != nil)
        #expect(record.json == published)
        #expect(record.subject == "dead_letters q" && AlertRecord(json: "[1]") == nil)
    }
}
