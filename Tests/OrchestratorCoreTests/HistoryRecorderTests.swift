@testable import OrchestratorCore
import Testing

@Suite("HistoryRecorder: minute samples and their XADD (pure)")
struct HistoryRecorderTests {
    typealias W = HistoryRecorder.WorkerSample

    @Test("a sample counts busy, idle, draining and in-flight workers, the stats counters and the peak PSS")
    func reading() {
        let workers = [W(isBusy: true, isDraining: false, pssBytes: 10), W(isBusy: true, isDraining: true, pssBytes: 30),
                       W(isBusy: false, isDraining: false, pssBytes: 20)]
        let r = HistoryRecorder.reading(pending: 7, retrying: 2, target: 3, workers: workers,
                                        stats: ["done": "5", "failed": "1", "dead": "x", "dur_le_1": "4", "other": "9"])
        #expect((r.pending, r.retrying, r.target) == (7, 2, 3))
        #expect((r.busy, r.idle, r.draining, r.inFlight) == (1, 1, 1, 2))
        #expect((r.done, r.failed, r.dead, r.maxPSS) == (5, 1, 0, 30))
        #expect(r.durations == ["dur_le_1": 4])
    }

    @Test("a finished minute gives one XADD per queue, trimmed by MINID to the retention; none without a retention")
    func xadd() {
        var recorder = HistoryRecorder(prefix: "p:", retention: .seconds(3600))
        var r = QueueHistory.Reading()
        r.done = 10
        let t0: Int64 = 600_000
        #expect(recorder.record([("q", r)], wallMilliseconds: t0).isEmpty)
        #expect(recorder.record([("q", r)], wallMilliseconds: t0 + 30_000).isEmpty)
        r.done = 25
        let commands = recorder.record([("q", r)], wallMilliseconds: t0 + 60_000)
        #expect(commands.count == 1)
        let words = commands.first.map { $0.map { String(decoding: $0.bytes, as: UTF8.self) } } ?? []
        #expect(Array(words.prefix(6)) == ["XADD", QueueKeys.history(prefix: "p:", queue: "q"), "MINID", "~", "\(t0 + 60_000 - 3_600_000)", "*"])
        #expect(words.contains("done") && recorder.jobsPerMinute("q", done: 25)?.one == 15)
        var quiet = HistoryRecorder(prefix: "p:", retention: nil)
        _ = quiet.record([("q", r)], wallMilliseconds: t0)
        #expect(quiet.record([("q", r)], wallMilliseconds: t0 + 60_000).isEmpty && quiet.jobsPerMinute("q", done: 25)?.one == 0)
    }
}
