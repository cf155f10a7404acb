import ArgumentParser
import CLISupport
import Foundation
import OrchestratorCore

/// `orchestrator events [--since 10m] [--type T] [--follow] [--json]`
struct Events: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the fleet's history (orchestrator:<prefix>events): scale decisions, worker starts and exits, drains, Redis outages, alerts, pauses.")
    @Option(help: ArgumentHelp("How far back: a duration (10m, 2h) or an ISO time (2026-11-30T10:00) (default 1h; with --follow, now).", valueName: "when"))
    var since: String?
    @Option(name: .customLong("type"), help: ArgumentHelp("Only events of these types, repeatable (\(EventLog.knownTypes.joined(separator: ", "))).", valueName: "type"))
    var types: [String] = []
    @Flag(help: "Keep printing new events as they happen (Ctrl-C to stop); starts now unless --since is given.") var follow = false
    @Flag(help: "One JSON object per line.") var json = false
    @OptionGroup var target: RedisTargetOptions

    func validate() throws {
        let unknown = EventLog.unknownTypes(types)
        if !unknown.isEmpty {
            throw badConfig("--type: no event has type \(unknown.map { "'\(TerminalText.safe($0))'" }.joined(separator: ", ")) (types: \(EventLog.knownTypes.joined(separator: ", ")))")
        }
    }

    func run() throws {
        let now = WallClock.nowMilliseconds()
        // --follow alone starts now; otherwise the last hour, or what --since says.
        let when = since ?? (follow ? nil : "1h")
        var from = now
        if let when {
            guard let at = Self.sinceMilliseconds(when, now: now) else {
                throw badConfig("--since: expected a duration like 10m or an ISO time like 2026-11-30T10:00, got '\(TerminalText.safe(when))'")
            }
            from = at
        }
        let (connection, prefix, _) = try target.connect(command: "events")
        let key = QueueKeys.events(prefix: prefix)
        do {
            var last = "\(from)"
            if when != nil { for e in try EventReader.range(connection, key: key, sinceMilliseconds: from) { show(e); last = e.id } }
            while follow {
                for e in try EventReader.after(connection, key: key, id: last, block: .seconds(5)) { show(e); last = e.id }
            }
        } catch {
            FileHandle.standardError.write(Data(TerminalText.safe("events: \(error)\n", keepingNewlines: true).utf8))
            throw ExitCode(ExitCodes.redisUnavailable)
        }
    }

    func show(_ e: EventReader.Event) {
        guard types.isEmpty || types.contains(e.type) else { return }
        let ts = Int64(e.fields.first { $0.0 == "ts" }?.1 ?? "") ?? 0
        if json {
            var w = JSONObjectWriter()
            w.string("id", e.id)
            for (k, v) in e.fields { w.string(k, v) }
            print(w.text)
        } else {
            let rest = e.fields.filter { $0.0 != "type" && $0.0 != "ts" }.map { "\($0.0)=\($0.1.contains(" ") ? JSONObjectWriter.quote($0.1) : $0.1)" }
            print(TerminalText.safe("\(WallClock.iso8601(milliseconds: ts))  \(e.type)  \(rest.joined(separator: " "))"))
        }
        fflush(nil)  // --follow: show each event at once
    }

    static func sinceMilliseconds(_ text: String, now: Int64) -> Int64? { WallClock.sinceMilliseconds(text, now: now) }
}

/// `orchestrator alerts [--json]`
struct Alerts: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the active alerts of the running orchestrator, with since when.")
    @Flag(help: "Print a JSON array.") var json = false
    @OptionGroup var target: RedisTargetOptions

    func run() throws {
        let (connection, prefix, _) = try target.connect(command: "alerts")
        let fields: [String: String]
        do { fields = try connection.send(["HGETALL", RedisArg(QueueKeys.alerts(prefix: prefix))]).fields } catch {
            FileHandle.standardError.write(Data("alerts: \(error)\n".utf8))
            throw ExitCode(ExitCodes.redisUnavailable)
        }
        let alerts = fields.sorted { $0.key < $1.key }.map(\.value)
        if json { print("[" + alerts.joined(separator: ",") + "]"); return }
        if alerts.isEmpty { print("no active alert"); return }
        for text in alerts {
            let a = (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:]
            let subject = [a["rule"] as? String, a["queue"] as? String].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: " ")
            print(TerminalText.safe("\(a["severity"] as? String ?? "?")  \(subject)  since \(a["since"] as? String ?? "?")  \(a["message"] as? String ?? "")"))
        }
    }
}

/// `orchestrator history [--queue Q] [--since 1h] [--json]`
struct History: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print each queue's minute samples (orchestrator:<prefix>history:<queue>): pending, workers, jobs done and failed, duration p95.",
        discussion: "MINUTE START is the start of the minute a row covers (jobs done at 07:57:30 are in the 07:57 row); the `minute` field of --json is that minute's end (stream time, ms).")
    @Option(help: ArgumentHelp("How far back: a duration (1h, 2d) or an ISO time (2026-11-30T10:00).", valueName: "when")) var since = "1h"
    @Flag(help: "One JSON object per line (every field of the sample).") var json = false
    @OptionGroup var target: RedisTargetOptions

    func run() throws {
        guard let from = Events.sinceMilliseconds(since, now: WallClock.nowMilliseconds()) else {
            throw badConfig("--since: expected a duration like 1h or an ISO time like 2026-11-30T10:00, got '\(since)'")
        }
        let (connection, prefix, requested) = try target.connect(command: "history")
        let queues = target.targetQueues(connection, prefix: prefix, requested: requested)
        do {
            if !json { print("QUEUE        MINUTE START (UTC) PENDING  WORKERS  DONE  FAILED  P95 S  JOBS/MIN (5M)") }
            for q in queues {
                for e in try EventReader.range(connection, key: QueueKeys.history(prefix: prefix, queue: q), sinceMilliseconds: from) {
                    let f = Dictionary(e.fields, uniquingKeysWith: { $1 })
                    if json {
                        var w = JSONObjectWriter()
                        w.string("queue", q)
                        for (k, v) in e.fields { w.string(k, v) }
                        print(w.text)
                        continue
                    }
                    // `minute` is the end of the minute sampled: show its start, as the header says.
                    let minute = WallClock.iso8601(milliseconds: max(0, (Int64(f["minute"] ?? "") ?? 0) - 60_000)).prefix(16)
                    let workers = (Int(f["busy"] ?? "") ?? 0) + (Int(f["idle"] ?? "") ?? 0) + (Int(f["draining"] ?? "") ?? 0)
                    print(TerminalText.safe([q.padding(toLength: 12, withPad: " ", startingAt: 0), String(minute), (f["pending"] ?? "").leftPad(7), "\(workers)".leftPad(7),
                           (f["done"] ?? "").leftPad(5), (f["failed"] ?? "").leftPad(6), (f["p95_s"].flatMap { $0.isEmpty ? nil : $0 } ?? "-").leftPad(6),
                           (f["rate_5m"].flatMap { $0.isEmpty ? nil : $0 } ?? "-").leftPad(13)].joined(separator: "  ")))
                }
            }
        } catch {
            FileHandle.standardError.write(Data(TerminalText.safe("history: \(error)\n", keepingNewlines: true).utf8))
            throw ExitCode(ExitCodes.redisUnavailable)
        }
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
