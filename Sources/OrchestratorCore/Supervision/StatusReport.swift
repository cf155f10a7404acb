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
