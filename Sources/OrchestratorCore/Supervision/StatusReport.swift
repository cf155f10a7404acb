import Foundation

/// `orchestrator status`: everything read from Redis, so it works from any shell or host.
public struct StatusReport {
    public struct QueueRow: Equatable {
        public var name: String
        public var pending = 0, inFlight = 0, retrying = 0
        public var target: Int?
        public var busy = 0, idle = 0
        public var done = 0, failed = 0, dead = 0
        public var paused = false
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
    }

    public var instance: [String: String]?
    public var queues: [QueueRow] = []
    public var workers: [WorkerRow] = []

    public static func collect(redis: RedisConnection, prefix: String, queues fallback: [String]) throws(RedisError) -> StatusReport {
        var report = StatusReport()
        let instance = try redis.send(["HGETALL", RedisArg(QueueKeys.instance(prefix: prefix))]).fields
        report.instance = instance.isEmpty ? nil : instance
        let names = instance["queues"].map { $0.split(separator: ",").map(String.init) } ?? fallback
        let now = WallClock.nowMilliseconds()
        let paused = Set((try redis.send(["SMEMBERS", RedisArg(QueueKeys.paused(prefix: prefix))]).array ?? []).compactMap(\.text))
        for key in try redis.scan(match: QueueKeys.heartbeatPattern(prefix: prefix)).sorted() {
            let f = try redis.send(["HGETALL", RedisArg(key)]).fields
            guard let pid = f["pid"].flatMap(Int.init), let queue = f["queue"] else { continue }
            let started = f["job_started_at"].flatMap(Int64.init)
            report.workers.append(WorkerRow(pid: pid, queue: queue, slot: f["slot"].flatMap(Int.init) ?? 0, state: f["state"] ?? "?",
                                            jobAgeSeconds: started.map { Double(now - $0) / 1000 },
                                            jobsDone: f["jobs_done"].flatMap(Int.init) ?? 0, rssBytes: f["rss_bytes"].flatMap(Int.init) ?? 0,
                                            pssBytes: f["pss_bytes"].flatMap(Int.init) ?? f["rss_bytes"].flatMap(Int.init) ?? 0,
                                            processes: f["processes"].flatMap(Int.init) ?? 1,
                                            host: f["host"] ?? "", id: f["worker"] ?? ""))
        }
        report.workers.sort { ($0.queue, $0.slot, $0.pid) < ($1.queue, $1.slot, $1.pid) }
        for name in names {
            let keys = QueueKeys(prefix: prefix, queue: name)
            var row = QueueRow(name: name)
            row.paused = paused.contains(name)
            row.pending = try redis.send(["LLEN", RedisArg(keys.pending)]).int ?? 0
            for list in try redis.scan(match: keys.processingPattern) { row.inFlight += try redis.send(["LLEN", RedisArg(list)]).int ?? 0 }
            row.retrying = try redis.send(["ZCARD", RedisArg(keys.retry)]).int ?? 0
            row.target = instance["target:\(name)"].flatMap(Int.init)
            let stats = try redis.send(["HGETALL", RedisArg(keys.stats)]).fields
            row.done = stats["done"].flatMap(Int.init) ?? 0
            row.failed = stats["failed"].flatMap(Int.init) ?? 0
            row.dead = try redis.send(["LLEN", RedisArg(keys.dead)]).int ?? 0
            row.busy = report.workers.filter { $0.queue == name && $0.state == WorkerState.busy.rawValue }.count
            row.idle = report.workers.filter { $0.queue == name && $0.state != WorkerState.busy.rawValue }.count
            report.queues.append(row)
        }
        return report
    }

    public var table: String {
        var out = ""
        if let i = instance {
            out += "orchestrator pid \(i["pid"] ?? "?") on \(i["host"] ?? "?"): \(i["state"] ?? "?"), max total \(i["max_total"] ?? "?")\n"
        } else {
            out += "No orchestrator is running (no heartbeat in Redis).\n"
        }
        var rows = [["QUEUE", "PENDING", "IN FLIGHT", "RETRY", "TARGET", "BUSY", "IDLE", "DONE", "FAILED", "DEAD"]]
        for q in queues {
            rows.append([q.name + (q.paused ? " (paused)" : ""), "\(q.pending)", "\(q.inFlight)", "\(q.retrying)", q.target.map { "\($0)" } ?? "-", "\(q.busy)", "\(q.idle)",
                         "\(q.done)", "\(q.failed)", "\(q.dead)"])
        }
        out += Self.format(rows)
        if workers.isEmpty { return out + "\nno workers\n" }
        var w = [["PID", "QUEUE", "SLOT", "STATE", "JOB AGE", "JOBS DONE", "PROCS", "MEM MB (PSS)", "HOST"]]
        for r in workers {
            w.append(["\(r.pid)", r.queue, "\(r.slot)", r.state, r.jobAgeSeconds.map { String(format: "%.1fs", $0) } ?? "-",
                      "\(r.jobsDone)", "\(r.processes)", String(format: "%.1f", Double(r.pssBytes) / 1_048_576), r.host])
        }
        return out + "\n" + Self.format(w)
    }

    public var json: String {
        var root = JSONObjectWriter()
        if let i = instance {
            var o = JSONObjectWriter()
            o.number("pid", Int(i["pid"] ?? "") ?? 0)
            o.string("host", i["host"])
            o.string("state", i["state"])
            o.number("max_total", Int(i["max_total"] ?? "") ?? 0)
            root.raw("orchestrator", o.text)
        } else {
            root.raw("orchestrator", "null")
        }
        root.bool("running", instance != nil)
        let qs = queues.map { q -> String in
            var o = JSONObjectWriter()
            o.string("queue", q.name)
            o.bool("paused", q.paused)
            o.number("pending", q.pending)
            o.number("in_flight", q.inFlight)
            o.number("retrying", q.retrying)
            if let t = q.target { o.number("target", t) } else { o.raw("target", "null") }
            o.number("busy", q.busy); o.number("idle", q.idle)
            o.number("done", q.done); o.number("failed", q.failed); o.number("dead", q.dead)
            return o.text
        }
        root.raw("queues", "[" + qs.joined(separator: ",") + "]")
        let ws = workers.map { r -> String in
            var o = JSONObjectWriter()
            o.number("pid", r.pid)
            o.string("queue", r.queue)
            o.number("slot", r.slot)
            o.string("state", r.state)
            o.raw("job_age_seconds", r.jobAgeSeconds.map { String(format: "%.3f", $0) } ?? "null")
            o.number("jobs_done", r.jobsDone)
            o.number("rss_bytes", r.rssBytes)
            o.number("pss_bytes", r.pssBytes)
            o.number("processes", r.processes)
            o.string("host", r.host)
            o.string("id", r.id)
            return o.text
        }
        root.raw("workers", "[" + ws.joined(separator: ",") + "]")
        return root.text
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

/// Another orchestrator already supervising this prefix (two would double every worker count).
public enum InstanceGuard {
    /// A description of the live orchestrator holding `prefix`, or nil when none does. A heartbeat
    /// left by a dead process on this host (killed with -9 less than 10 s ago) does not count.
    public static func otherInstance(redis: RedisConnection, prefix: String, host: String, pid: Int32) throws(RedisError) -> String? {
        let fields = try redis.send(["HGETALL", RedisArg(QueueKeys.instance(prefix: prefix))]).fields
        guard let otherPID = fields["pid"].flatMap({ Int32($0) }), let otherHost = fields["host"] else { return nil }
        if otherHost == host {
            if otherPID == pid || kill(otherPID, 0) != 0 { return nil }
        }
        return "pid \(otherPID) on \(otherHost) (\(fields["state"] ?? "running"))"
    }
}
