/// Cuts a handler's stderr into lines as it arrives, so each line reaches the worker's log while
/// the job runs (stamped with time, worker and job id), not only in the final error.
public struct StderrLines {
    /// Receives each complete line (without its newline); long lines are cut at `maxLine`.
    public var emit: (String) -> Void
    private var pending: [UInt8] = []
    public static let maxLine = 8192

    public init(emit: @escaping (String) -> Void) { self.emit = emit }

    public mutating func feed<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        pending += bytes
        while let nl = pending.firstIndex(of: UInt8(ascii: "\n")) {
            emitLine(pending[..<nl])
            pending.removeSubrange(...nl)
        }
        while pending.count > Self.maxLine {
            emitLine(pending.prefix(Self.maxLine))
            pending.removeFirst(Self.maxLine)
        }
    }

    /// Emits what is left (a last line without a newline).
    public mutating func flush() {
        if !pending.isEmpty { emitLine(pending[...]) }
        pending.removeAll()
    }

    private func emitLine(_ bytes: ArraySlice<UInt8>) {
        var line = String(decoding: bytes, as: UTF8.self)
        if line.hasSuffix("\r") { line.removeLast() }
        emit(line)
    }
}
