import Foundation

/// Reads `/proc` for process trees: who descends from whom, their memory, and how to end a tree
/// whatever session or process group its members moved to (Chromium starts its own session).
///
/// Descendants are found through `/proc/<pid>/task/<tid>/children` from the root down, so the
/// cost grows with the size of the tree, not with the number of processes on the host. Where the
/// kernel lacks that file (CONFIG_PROC_CHILDREN off) a full scan of `/proc` is used instead.
public enum ProcessTree {
    public struct Entry: Sendable, Equatable {
        public let pid: pid_t
        public let ppid: pid_t
        public let pgrp: pid_t
        public let rssBytes: Int
        public let isZombie: Bool
    }

    /// Memory of a process tree. `pssBytes` is the proportional set size (pages shared by several
    /// processes, like a browser's renderers, counted once in total); it equals `rssBytes` where
    /// `smaps_rollup` cannot be read.
    public struct Memory: Sendable, Equatable {
        public var rssBytes: Int
        public var pssBytes: Int
        public var processes: Int
    }

    static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
    static let hasChildrenFiles = access("/proc/self/task/\(getpid())/children", R_OK) == 0

    /// One process, from `/proc/<pid>/stat`; nil when it is gone.
    public static func entry(_ pid: pid_t) -> Entry? {
        guard let stat = readSmallFile("/proc/\(pid)/stat"), let close = stat.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " "))
        // fields[0] = state, [1] = ppid, [2] = pgrp, ... [21] = rss (pages)
        guard fields.count > 21, let ppid = pid_t(ascii: fields[1]), let pgrp = pid_t(ascii: fields[2]),
              let rss = Int(ascii: fields[21]) else { return nil }
        let state = fields[0].first ?? 0
        return Entry(pid: pid, ppid: ppid, pgrp: pgrp, rssBytes: rss * pageSize,
                     isZombie: state == UInt8(ascii: "Z") || state == UInt8(ascii: "X"))
    }

    /// Every process on the host (a full scan of `/proc`).
    public static func snapshot() -> [Entry] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return names.compactMap { pid_t($0).flatMap(entry) }
    }

    /// The direct children of `pid` (every thread's, since a child belongs to the thread that
    /// forked it, and an adopted orphan to any live thread of its subreaper).
    public static func children(of pid: pid_t) -> [pid_t] {
        guard hasChildrenFiles else { return snapshot().filter { $0.ppid == pid }.map(\.pid) }
        var out: [pid_t] = []
        for tid in directoryEntries("/proc/\(pid)/task") {
            guard let text = readSmallFile("/proc/\(pid)/task/\(tid)/children") else { continue }
            out += text.split(separator: UInt8(ascii: " ")).compactMap { pid_t(ascii: $0) }
        }
        return out
    }

    /// Every descendant of `root` (not including it).
    public static func descendants(of root: pid_t) -> [Entry] {
        var out: [Entry] = []
        var seen: Set<pid_t> = [root]
        var stack = [root]
        while let p = stack.popLast() {
            for c in children(of: p) where seen.insert(c).inserted {
                guard let e = entry(c) else { continue }
                out.append(e)
                stack.append(c)
            }
        }
        return out
    }

    /// RSS and PSS of `root` and all its descendants.
    public static func memory(of root: pid_t) -> Memory {
        var members = descendants(of: root).filter { !$0.isZombie }
        if let own = entry(root) { members.append(own) }
        var memory = Memory(rssBytes: 0, pssBytes: 0, processes: members.count)
        for e in members {
            memory.rssBytes += e.rssBytes
            memory.pssBytes += proportionalBytes(e.pid) ?? e.rssBytes
        }
        return memory
    }

    /// `Pss:` of `/proc/<pid>/smaps_rollup`, in bytes; nil when unreadable.
    public static func proportionalBytes(_ pid: pid_t) -> Int? {
        guard let text = readSmallFile("/proc/\(pid)/smaps_rollup", limit: 8192) else { return nil }
        for line in text.split(separator: UInt8(ascii: "\n")) where line.starts(with: Array("Pss:".utf8)) {
            let number = line.dropFirst(4).split(separator: UInt8(ascii: " ")).first
            return number.flatMap { Int(ascii: $0) }.map { $0 * 1024 }
        }
        return nil
    }

    /// SIGKILLs a process group and then every remaining descendant of `root` (browsers that
    /// left the group with setsid included). Repeats while new ones appear (a fork in flight).
    /// With a `reaper` (the worker, a subreaper), the killed are reaped before returning, so
    /// no zombie lingers until the next job.
    ///
    /// One empty walk proves nothing while a killed process is still exiting: its children move
    /// to us (the subreaper) between our read of our own children and our read of its children,
    /// so that walk sees neither. With a reaper the loop ends only when the walk finds nobody at
    /// all, zombies included (a zombie is reaped first, and its orphans are ours by then).
    public static func killAll(group: pid_t?, descendantsOf root: pid_t, reaper: Reaper? = nil, limit: Duration = .seconds(1)) {
        if let group, group > 0 { kill(-group, SIGKILL) }
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        repeat {
            if let reaper {
                reaper.reap()
                // As subreaper, every descendant is our child or below one: none means done.
                if !reaper.hasChildren { return }
            }
            let all = descendants(of: root)
            let live = all.filter { !$0.isZombie }
            if all.isEmpty || (reaper == nil && live.isEmpty) { return }
            for e in live { kill(e.pid, SIGKILL) }
            usleep(2_000)
        } while clock.now < deadline
    }

    /// SIGKILLs `root` and its whole tree, whatever sessions or groups its members are in: stop
    /// everyone first (a stopped process cannot fork), then kill. Returns how many were killed.
    @discardableResult
    public static func killTree(_ root: pid_t) -> Int {
        var killed: Set<pid_t> = []
        for _ in 0..<5 {
            var members = descendants(of: root).filter { !$0.isZombie }.map(\.pid)
            if let r = entry(root), !r.isZombie, !killed.contains(root) { members.append(root) }
            members = members.filter { !killed.contains($0) }
            if members.isEmpty { break }
            for pid in members { kill(pid, SIGSTOP) }
            for pid in members { kill(pid, SIGKILL); killed.insert(pid) }
        }
        return killed.count
    }

    static func readSmallFile(_ path: String, limit: Int = 4096) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: limit)
        var total = 0
        while total < limit {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + total, limit - total) }
            if n <= 0 { break }
            total += n
        }
        return Array(buffer[0..<total])
    }

    static func directoryEntries(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let ent = readdir(dir) {
            let name = withUnsafePointer(to: ent.pointee.d_name) { $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) } }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}

extension FixedWidthInteger {
    /// Parses ASCII decimal digits (an optional leading '-'); nil for anything else.
    init?<C: Collection>(ascii digits: C) where C.Element == UInt8 {
        var value: Self = 0
        var negative = false
        var any = false
        for (i, b) in digits.enumerated() {
            if i == 0 && b == UInt8(ascii: "-") { negative = true; continue }
            guard b >= 48 && b <= 57 else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Self(b - 48))
            guard !o1 && !o2 else { return nil }
            value = a
            any = true
        }
        guard any else { return nil }
        self = negative ? 0 - value : value
    }
}
