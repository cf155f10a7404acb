/// What a queue element carries. A producer pushes a plain payload (no attempt made yet). When an
/// attempt fails, or the worker running it dies, the job goes back wrapped in an envelope that
/// counts the attempts of this one job instance, so identical payloads never share a count:
///
///     \u{1E}rpa:1 <attempts made> <error length in bytes>[ <instance id>]\n<last error><payload>
///
/// A job enqueued by the Python `Client` carries its own instance id from the start
/// (`\u{1E}rpa:1 0 0 <id>\n<payload>`): it is the job's id (`JOB_ID`, `job_id`, the key of its
/// result by id) instead of the payload's SHA-1, and every envelope of that job keeps it.
/// The same format is read and written by the Lua recovery script (`QueueScripts.recoverDead`).
/// A payload that happens to start with the marker but has no valid header is taken as plain.
public struct JobEnvelope: Sendable, Equatable {
    /// Attempts already started for this job instance (0 for a producer's fresh payload).
    public var attemptsMade: Int
    /// The error of the last failed attempt ("" when none).
    public var lastError: String
    /// The per-instance id a `Client` gave the job (nil for a plain producer's payload).
    public var instanceID: String?
    public var payload: [UInt8]

    public static let marker: [UInt8] = Array("\u{1E}rpa:1 ".utf8)

    public init(attemptsMade: Int = 0, lastError: String = "", instanceID: String? = nil, payload: [UInt8]) {
        self.attemptsMade = attemptsMade
        self.lastError = lastError
        self.instanceID = instanceID
        self.payload = payload
    }

    /// An instance id is 1 to 64 of `[0-9A-Za-z_-]` (the Lua script checks the same).
    public static func isValidInstanceID<S: Sequence>(_ id: S) -> Bool where S.Element == UInt8 {
        var count = 0
        for b in id {
            count += 1
            guard count <= 64, (48...57).contains(b) || (65...90).contains(b) || (97...122).contains(b) || b == 45 || b == 95 else { return false }
        }
        return count > 0
    }

    /// Reads a queue element: an envelope, or a plain payload.
    public static func decode(_ element: [UInt8]) -> JobEnvelope {
        guard element.count > marker.count, element.starts(with: marker),
              let newline = element[marker.count...].firstIndex(of: UInt8(ascii: "\n")) else {
            return JobEnvelope(payload: element)
        }
        let header = element[marker.count..<newline].split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard header.count == 2 || header.count == 3, let attempts = Int(String(decoding: header[0], as: UTF8.self)),
              let errorLength = Int(String(decoding: header[1], as: UTF8.self)),
              attempts >= 0, errorLength >= 0, element.count - newline - 1 >= errorLength,
              header[0..<2].allSatisfy({ !$0.isEmpty && $0.allSatisfy { (48...57).contains($0) } }),
              header.count == 2 || isValidInstanceID(header[2]) else {
            return JobEnvelope(payload: element)
        }
        let errorStart = newline + 1
        let payloadStart = errorStart + errorLength
        return JobEnvelope(attemptsMade: attempts, lastError: String(decoding: element[errorStart..<payloadStart], as: UTF8.self),
                           instanceID: header.count == 3 ? String(decoding: header[2], as: UTF8.self) : nil,
                           payload: Array(element[payloadStart...]))
    }

    /// The element to push back: the payload alone when no attempt was made and the job has no
    /// instance id, else the envelope.
    public func encoded() -> [UInt8] {
        guard attemptsMade > 0 || !lastError.isEmpty || instanceID != nil else { return payload }
        let error = Array(lastError.utf8)
        let id = instanceID.map { " " + $0 } ?? ""
        return Self.marker + Array("\(attemptsMade) \(error.count)\(id)\n".utf8) + error + payload
    }
}
