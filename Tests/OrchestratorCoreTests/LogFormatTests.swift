import Foundation
import Logging
import OrchestratorCore
import Testing

@Suite("log lines (pure)")
struct LogFormatTests {
    let ms: Int64 = 1_795_000_000_123  // a fixed instant

    @Test("result and log time stamps: ISO 8601 UTC with milliseconds, zero-padded")
    func isoTimes() {
        #expect(WallClock.iso8601(milliseconds: 0) == "1970-01-01T00:00:00.000Z")
        #expect(WallClock.iso8601(milliseconds: 1_796_037_497_288) == "2026-11-30T11:18:17.288Z")
        #expect(WallClock.iso8601(milliseconds: 1_796_037_497_007) == "2026-11-30T11:18:17.007Z")
    }

    @Test("text: the seed's shape, levels padded to one width (CRITICAL included), metadata sorted")
    func text() {
        var s = LogSettings()
        s.time = .iso
        let info = LineLogHandler.format(level: .info, message: "[ESCALAR] q: 322 jobs → criando 7 worker(s) (total: 0 → 7)",
                                         metadata: ["b": "2", "a": "x y"], settings: s, milliseconds: ms)
        #expect(info == "[\(WallClock.iso8601(milliseconds: ms))] | INFO     | [ESCALAR] q: 322 jobs → criando 7 worker(s) (total: 0 → 7) a=\"x y\" b=2")
        let critical = LineLogHandler.format(level: .critical, message: "worker.crashloop", metadata: [:], settings: s, milliseconds: ms)
        #expect(critical.firstRange(of: "| worker")?.lowerBound == info.firstRange(of: "| [ESCALAR]")?.lowerBound, "columns align")
        let clock = LineLogHandler.format(level: .info, message: "x", metadata: [:], settings: LogSettings(), milliseconds: ms)
        #expect(clock.range(of: #"^\[\d\d:\d\d:\d\d\] \| INFO     \| x$"#, options: .regularExpression) != nil, "\(clock)")
    }

    @Test("json: one object per line with ts, level, event, message and metadata; seed tags stay in the message")
    func json() throws {
        var s = LogSettings()
        s.format = .json
        let line = LineLogHandler.format(level: .info, message: "Worker 'worker-q-1' iniciado (pid 7). Total de q: 1",
                                         metadata: ["event": "worker.spawned", "worker": "q-1"], settings: s, milliseconds: ms)
        let o = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(o["ts"] as? String == WallClock.iso8601(milliseconds: ms) && o["level"] as? String == "info")
        #expect(o["event"] as? String == "worker.spawned" && (o["message"] as? String)?.contains("Total de q: 1") == true)
        #expect((o["metadata"] as? [String: String]) == ["worker": "q-1"])
        let plain = LineLogHandler.format(level: .warning, message: "redis.down", metadata: [:], settings: s, milliseconds: ms)
        #expect((try JSONSerialization.jsonObject(with: Data(plain.utf8)) as? [String: Any])?["event"] as? String == "redis.down")
    }

    @Test("log settings resolve from flags and env in any case, and name their source when wrong")
    func settings() throws {
        var v = OptionValues()
        v[.logFormat] = "JSON"
        let s = try LogSettings.resolve(v, OptionResolver(environment: ["LOG_TIME": "iso", "LOG_LEVEL": "Debug", "LOG_TO": "file"]))
        #expect(s.format == .json && s.time == .iso && s.level == .debug && s.destination == .file)
        #expect(throws: ConfigError(flag: "--log-to (from LOG_TO)", message: "expected stderr or file or both, got 'journal'")) {
            try LogSettings.resolve(OptionValues(), OptionResolver(environment: ["LOG_TO": "journal"]))
        }
    }
}

@Suite("handler stderr cut into lines (pure)")
struct StderrLinesTests {
    @Test("lines are emitted as they complete; a partial line waits; CR is dropped; flush emits the rest; long lines are cut")
    func lines() {
        final class Box: @unchecked Sendable { var lines: [String] = [] }
        let box = Box()
        var s = StderrLines { box.lines.append($0) }
        s.feed(Array("step 1\r\nstep".utf8))
        #expect(box.lines == ["step 1"])
        s.feed(Array(" 2\n".utf8))
        #expect(box.lines == ["step 1", "step 2"])
        s.feed(Array("tail".utf8))
        s.flush()
        #expect(box.lines.last == "tail")
        s.feed([UInt8](repeating: 65, count: StderrLines.maxLine + 10))
        #expect(box.lines.last?.count == StderrLines.maxLine)
    }
}

@Suite("job duration histogram (pure)")
struct JobDurationTests {
    @Test("a duration lands in the first bucket at or above it; the exposition is cumulative with +Inf = count")
    func buckets() {
        #expect(JobDuration.field(milliseconds: 50) == "dur_le_0.1")
        #expect(JobDuration.field(milliseconds: 1000) == "dur_le_1")
        #expect(JobDuration.field(milliseconds: 1001) == "dur_le_2")
        #expect(JobDuration.field(milliseconds: 3_600_000) == "dur_le_inf")
        let h = JobDuration.histogram(["dur_le_0.1": "2", "dur_le_2": "1", "dur_le_inf": "1", "dur_ms_sum": "3700250"])
        #expect(h.count == 4 && h.sum == 3700.25)
        #expect(h.buckets.first! == ("0.1", 2) && h.buckets.first { $0.0 == "1" }! == ("1", 2) && h.buckets.first { $0.0 == "2" }! == ("2", 3))
        #expect(h.buckets.last! == ("+Inf", 4))
    }
}
