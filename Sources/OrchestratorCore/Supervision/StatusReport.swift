import Foundation

/// `orchestrator status`: everything read from Redis, so it works from any shell or host.
public struct StatusReport {
    public struct QueueRow: Equatable {
        public var name: String
        public var pending = 0, inFlight = 0, retrying = 0
        public var target: Int?
        public var busy = 0, idle = 0
        /// Jobs completed ok (counter), attempts that failed (counter), dead letters now in the
        /// list, and jobs ever dead-lettered (counter).
        public var done = 0, failed = 0, dead = 0, deadTotal = 0
        public var paused = false
        /// Jobs completed per minute over 1, 5, 15 minutes, and the time to drain the backlog at that pace (s).
        public var jobsPerMinute: [Double?] = [nil, nil, nil]
        public var etaSeconds: Double?
        /// `--scaling adaptive`: measured jobs/s per busy worker, arrivals/s, predicted drain (s).
        public var serviceRate: Double?, arrivalRate: Double?, drainSeconds: Double?
        /// The cap that binds (`max_per_queue` or `max_total`) and the workers wanted without it.
        public var limitedBy: String?, wanted: Int?
        public var draining = 0
        /// Set when one of the queue's keys cannot be read (a key of the wrong type): which, and why.
        public var unreadable: Unreadable?
    }

    /// A queue key that cannot be read, and the server's reason (`WRONGTYPE …`).
    public struct Unreadable: Equatable, Sendable {
        public var key: String
        public var reason: String
        public init(key: String, reason: String) { self.key = key; self.reason = reason }
        /// `key fila:wt: WRONGTYPE Operation against a key holding the wrong kind of value`
        public var text: String { "key \(key): \(reason)" }
    }

    public struct WorkerRow: Equatable {
        public var pid: Int
        public var queue: String
        public var slot: Int
        public var state: String
        public var jobAgeSeconds: Double?
        public var jobsDone: Int
        /// Summed RSS of the worker's process tree (shared pages counted once per process).
        public var rssBytes: Int
        /// Proportional set size of the tree (shared pages split between the processes sharing
        /// them): what `--max-worker-rss-mb` compares with.
        public var pssBytes: Int
        /// Processes in the tree (worker, handler, browser and its helpers).
        public var processes: Int
        public var host: String
        public var id: String
        /// Wall-clock ms when the worker started (0 when unknown).
        public var startedAt: Int64 = 0
    }

    public var instance: InstanceRecord?
    /// Keys holding no job (instance, alerts, paused set, a heartbeat) of the wrong type: read as empty.
    public var skippedKeys: [Unreadable] = []
    /// Active alerts (JSON objects, as `orchestrator alerts --json` prints them).
    public var alerts: [String] = []
    public var queues: [QueueRow] = []
    public var workers: [WorkerRow] = []
    /// The live orchestrators of the fleet (one when a single host runs).
    public var hosts: [HostRow] = []

    /// The table, for a terminal: control characters from Redis (an alert message, a host name)
    /// are escaped (`TerminalText`), so nothing read can retitle or clear the operator's terminal.
    public var table: String { TerminalText.safe(rawTable, keepingNewlines: true) }

    var rawTable: String {
        var out = ""
        if let i = instance {
            let fleet = hosts.count > 1 ? "fleet of \(hosts.count) hosts, leader \(i.hostID ?? "?") " : ""
            out += "\(fleet)orchestrator pid \(i.pid.map { "\($0)" } ?? "?") on \(i.host ?? "?"): \(i.state?.rawValue ?? "?"), "
                + "max total \(i.maxTotal.map { "\($0)" } ?? "?")\n"
        } else if workers.isEmpty {
            out += "No orchestrator is running (no heartbeat in Redis), and no worker.\n"
        } else {
            out += "No orchestrator is running; \(workers.count) standalone worker(s) alive.\n"
        }
        for text in alerts {
            let a = AlertRecord(json: text) ?? AlertRecord()
            out += "ALERT \(a.subject) since \(a.since ?? "?"): \(a.message ?? "")\n"
        }
        var rows = [["QUEUE", "PENDING", "IN FLIGHT", "RETRY", "TARGET", "BUSY", "IDLE", "DONE", "FAILED ATTEMPTS", "DEAD NOW", "DEAD TOTAL"]]
        for q in queues {
            if q.unreadable != nil {
                rows.append([q.name + " (UNREADABLE)"] + Array(repeating: "?", count: 10))
                continue
            }
            rows.append([q.name + (q.paused ? " (paused)" : ""), "\(q.pending)", "\(q.inFlight)", "\(q.retrying)", q.target.map { "\($0)" } ?? "-", "\(q.busy)", "\(q.idle)",
                         "\(q.done)", "\(q.failed)", "\(q.dead)", "\(q.deadTotal)"])
        }
        out += Self.format(rows)
        for q in queues { if let u = q.unreadable { out += "\(q.name): UNREADABLE: \(u.text)\n" } }
        for u in skippedKeys { out += "UNREADABLE (skipped): \(u.text)\n" }
        for q in queues where q.jobsPerMinute.contains(where: { $0 != nil }) {
            let r = q.jobsPerMinute.map { $0.map { String(format: "%.1f", $0) } ?? "-" }.joined(separator: " / ")
            out += "\(q.name): \(r) jobs/min (1/5/15 min)\(q.etaSeconds.map { ", backlog done in ~\(AdaptivePolicy.Need.clock($0)) at that pace" } ?? "")\n"
        }
        for q in queues {
            guard let rate = q.serviceRate else { continue }
            out += "\(q.name): adaptive, \(AdaptivePolicy.Need.rate(rate)) jobs/s per worker, \(AdaptivePolicy.Need.rate(q.arrivalRate ?? 0)) arriving/s, "
                + "drain \(q.drainSeconds.map { AdaptivePolicy.Need.clock($0) } ?? "never at this target")\n"
        }
        if workers.isEmpty { return out + "\nno workers\n" + hostsTable }
        var w = [["PID", "QUEUE", "SLOT", "STATE", "JOB AGE", "JOBS DONE", "PROCS", "MEM MB (PSS)", "HOST"]]
        for r in workers {
            w.append(["\(r.pid)", r.queue, "\(r.slot)", r.state, r.jobAgeSeconds.map { String(format: "%.1fs", $0) } ?? "-",
                      "\(r.jobsDone)", "\(r.processes)", String(format: "%.1f", Double(r.pssBytes) / 1_048_576), r.host])
        }
        return out + "\n" + Self.format(w) + hostsTable
    }

    /// Nothing runs: no orchestrator and no worker (`status` exits 3).
    public var nothingRuns: Bool { instance == nil && workers.isEmpty }

    /// `status --json`: the same numbers as the table, as typed JSON (`StatusJSON`).
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(StatusJSON(self))) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    static func format(_ rows: [[String]]) -> String {
        guard let first = rows.first else { return "" }
        let widths = first.indices.map { c in rows.map { $0[c].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }.joined(separator: "\n") + "\n"
    }
}

/// The shape of `status --json` (documented in the README): `orchestrator` (null when none
/// runs), `running`, `queues`, `workers`; absent values are explicit `null`s.
struct StatusJSON: Encodable {
    struct Orchestrator: Encodable {
        var pid: Int
        var host: String?
        var state: String?
        var maxTotal: Int
        var jobTimeoutSeconds: Double?
        var maxWorkerRSSMB: Int?
        enum CodingKeys: String, CodingKey {
            case pid, host, state, maxTotal = "max_total", jobTimeoutSeconds = "job_timeout_seconds", maxWorkerRSSMB = "max_worker_rss_mb"
        }
    }

    struct Queue: Encodable {
        var row: StatusReport.QueueRow
        enum CodingKeys: String, CodingKey {
            case queue, paused, pending, inFlight = "in_flight", retrying, target, busy, idle, done, failed, dead
            case jobsDone = "jobs_done_total", failedAttempts = "failed_attempts_total", deadNow = "dead_now", deadTotal = "dead_total"
            case serviceRate = "service_rate_per_worker", arrivalRate = "arrival_rate", drainSeconds = "predicted_drain_seconds"
            case jpm1 = "jobs_per_minute_1m", jpm5 = "jobs_per_minute_5m", jpm15 = "jobs_per_minute_15m", eta = "time_to_drain_seconds"
            case limitedBy = "limited_by", wanted, draining
            case readable, unreadableKey = "unreadable_key", unreadableReason = "unreadable_reason"
        }
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(row.name, forKey: .queue)
            try c.encode(row.paused, forKey: .paused)
            try c.encode(row.pending, forKey: .pending)
            try c.encode(row.inFlight, forKey: .inFlight)
            try c.encode(row.retrying, forKey: .retrying)
            try c.encode(row.target, forKey: .target)  // null when no orchestrator publishes one
            try c.encode(row.busy, forKey: .busy)
            try c.encode(row.idle, forKey: .idle)
            try c.encode(row.done, forKey: .done)
            try c.encode(row.failed, forKey: .failed)
            try c.encode(row.dead, forKey: .dead)
            // Unambiguous names (done/failed/dead above are kept for existing scripts).
            try c.encode(row.done, forKey: .jobsDone)
            try c.encode(row.failed, forKey: .failedAttempts)
            try c.encode(row.dead, forKey: .deadNow)
            try c.encode(row.deadTotal, forKey: .deadTotal)
            try c.encode(row.serviceRate, forKey: .serviceRate)  // null unless --scaling adaptive measured it
            try c.encode(row.arrivalRate, forKey: .arrivalRate)
            try c.encode(row.drainSeconds, forKey: .drainSeconds)
            try c.encode(row.jobsPerMinute[0], forKey: .jpm1)
            try c.encode(row.jobsPerMinute[1], forKey: .jpm5)
            try c.encode(row.jobsPerMinute[2], forKey: .jpm15)
            try c.encode(row.etaSeconds, forKey: .eta)
            try c.encode(row.limitedBy, forKey: .limitedBy)  // null unless a cap holds the queue back
            try c.encode(row.wanted, forKey: .wanted)
            try c.encode(row.draining, forKey: .draining)
            // A key of the wrong type: the queue's other figures are 0 (or what was read before it).
            try c.encode(row.unreadable == nil, forKey: .readable)
            try c.encode(row.unreadable?.key, forKey: .unreadableKey)
            try c.encode(row.unreadable?.reason, forKey: .unreadableReason)
        }
    }

    struct Worker: Encodable {
        var row: StatusReport.WorkerRow
        enum CodingKeys: String, CodingKey {
            case pid, queue, slot, state, jobAgeSeconds = "job_age_seconds", jobsDone = "jobs_done", rssBytes = "rss_bytes"
            case pssBytes = "pss_bytes", processes, host, id, startedAt = "started_at"
        }
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(row.pid, forKey: .pid)
            try c.encode(row.queue, forKey: .queue)
            try c.encode(row.slot, forKey: .slot)
            try c.encode(row.state, forKey: .state)
            try c.encode(row.jobAgeSeconds.map { ($0 * 1000).rounded() / 1000 }, forKey: .jobAgeSeconds)
            try c.encode(row.jobsDone, forKey: .jobsDone)
            try c.encode(row.rssBytes, forKey: .rssBytes)
            try c.encode(row.pssBytes, forKey: .pssBytes)
            try c.encode(row.processes, forKey: .processes)
            try c.encode(row.host, forKey: .host)
            try c.encode(row.id, forKey: .id)
            try c.encode(row.startedAt > 0 ? WallClock.iso8601(milliseconds: row.startedAt) : nil, forKey: .startedAt)
        }
    }

    var orchestrator: Orchestrator?
    /// An orchestrator runs (workers may run without one).
    var running: Bool
    var queues: [Queue]
    var workers: [Worker]
    var alerts: [JSONValue]
    var hosts: [HostJSON]
    var unreadableKeys: [[String: String]]

    init(_ report: StatusReport) {
        orchestrator = report.instance.map {
            Orchestrator(pid: $0.pid ?? 0, host: $0.host, state: $0.state?.rawValue, maxTotal: $0.maxTotal ?? 0,
                         jobTimeoutSeconds: $0.jobTimeoutMilliseconds.map { Double($0) / 1000 }, maxWorkerRSSMB: $0.maxWorkerRSSMB)
        }
        running = report.instance != nil
        queues = report.queues.map(Queue.init)
        workers = report.workers.map(Worker.init)
        hosts = report.hosts.map(HostJSON.init)
        alerts = report.alerts.compactMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) }
        unreadableKeys = report.skippedKeys.map { ["key": $0.key, "reason": $0.reason] }
    }

    enum CodingKeys: String, CodingKey { case orchestrator, running, queues, workers, alerts, hosts, unreadableKeys = "unreadable_keys" }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(orchestrator, forKey: .orchestrator)  // null when none runs
        try c.encode(running, forKey: .running)
        try c.encode(queues, forKey: .queues)
        try c.encode(workers, forKey: .workers)
        try c.encode(alerts, forKey: .alerts)
        try c.encode(hosts, forKey: .hosts)
        try c.encode(unreadableKeys, forKey: .unreadableKeys)
    }
}
