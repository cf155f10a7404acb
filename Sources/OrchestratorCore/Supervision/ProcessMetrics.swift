import Foundation

/// The standard `process_*` metrics of this process, from /proc.
enum ProcessMetrics {
    static func add(to m: inout MetricsText) {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let page = Double(sysconf(Int32(_SC_PAGESIZE)))
        if let stat = ProcessTree.readSmallFile("/proc/self/stat"), let close = stat.lastIndex(of: UInt8(ascii: ")")) {
            let f = stat[(close + 1)...].split(separator: UInt8(ascii: " ")).map { String(decoding: $0, as: UTF8.self) }
            // f[11] utime, f[12] stime, f[19] starttime (ticks since boot), f[20] vsize, f[21] rss (pages)
            if f.count > 21 {
                m.add("process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.",
                      [([], ((Double(f[11]) ?? 0) + (Double(f[12]) ?? 0)) / ticks)])
                m.add("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", [([], Double(f[20]) ?? 0)])
                m.add("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", [([], (Double(f[21]) ?? 0) * page)])
                m.add("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
                      [([], bootTime() + (Double(f[19]) ?? 0) / ticks)])
            }
        }
        m.add("process_open_fds", "gauge", "Number of open file descriptors.", [([], Double(ProcessTree.directoryEntries("/proc/self/fd").count))])
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        m.add("process_max_fds", "gauge", "Maximum number of open file descriptors.", [([], Double(limit.rlim_cur))])
    }

    static func bootTime() -> Double {
        let text = String(decoding: ProcessTree.readSmallFile("/proc/stat", limit: 65536) ?? [], as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") { return Double(line.dropFirst(6)) ?? 0 }
        return 0
    }
}

extension WorkerLifecycle.ExitKind {
    /// The `kind` label of `rpa_worker_exits_total`.
    var metricName: String {
        switch self {
        case .drained: return "drained"
        case .recycled: return "recycled"
        case .stoppedOnItsOwn: return "stopped"
        case .crashed: return "crashed"
        case .killed: return "killed"
        case .leaseLost: return "lease_lost"
        }
    }
}
