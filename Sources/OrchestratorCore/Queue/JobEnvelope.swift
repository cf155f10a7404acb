/// What a queue element carries. A producer pushes a plain payload (no attempt made yet). When an
/// attempt fails, or the worker running it dies, the job goes back wrapped in an envelope that
/// counts the attempts of this one job instance, so identical payloads never share a count:
///
///     \u{1E}rpa:1 <attempts made> <error length in bytes>\n<last error><payload>
///
/// The same format is read and written by the Lua recovery script (`QueueScripts.recoverDead`).
/// A payload that happens to start with the marker but has no valid header is taken as plain.
public struct JobEnvelope: Sendable, Equatable {
    /// Attempts already started for this job instance (0 for a producer's fresh payload).
    public var attemptsMade: Int
    /// The error of the last failed attempt ("" when none).
    public var lastError: String
    public var payload: [UInt8]

    public static let marker: [UInt8] = Array("\u{1E}rpa:1 ".utf8)

    public init(attemptsMade: Int = 0, lastError: String = "", payload: [UInt8]) {
        self.attemptsMade = attemptsMade
        self.lastError = lastError
        self.payload = payload
    }

    /// Reads a queue element: an envelope, or a plain payload.
    public static func decode(_ element: [UInt8]) -> JobEnvelope {
        guard element.count > marker.count, element.starts(with: marker),
              let newline = element[marker.count...].firstIndex(of: UInt8(ascii: "\n")) else {
            return JobEnvelope(payload: element)
        }
        let header = element[marker.count..<newline].split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard header.count == 2, let attempts = Int(String(decoding: header[0], as: UTF8.self)),
              let errorLength = Int(String(decoding: header[1], as: UTF8.self)),
              attempts >= 0, errorLength >= 0, element.count - newline - 1 >= errorLength,
              header.allSatisfy({ !$0.isEmpty && $0.allSatisfy { (48...57).contains($0) } }) else {
            return JobEnvelope(payload: element)
        }
        let errorStart = newline + 1
        let payloadStart = errorStart + errorLength
        return JobEnvelope(attemptsMade: attempts, lastError: String(decoding: element[errorStart..<payloadStart], as: UTF8.self),
                           payload: Array(element[payloadStart...]))
    }

    /// The element to push back: the payload alone when no attempt was made, else the envelope.
    public func encoded() -> [UInt8] {
        guard attemptsMade > 0 || !lastError.isEmpty else { return payload }
        let error = Array(lastError.utf8)
        return Self.marker + Array("\(attemptsMade) \(error.count)\n".utf8) + error + payload
    }
}
