import Foundation

// The JSON records the product writes and reads, as types: the result record (for the writer),
// the dead-letter entry, and the persistent handler's request and answer. Each encodes through
// `JSONObjectWriter` (the worker's hot path: no JSONEncoder per job) and decodes with `Decodable`
// (`dead`, tests, tools); unit tests round-trip every type so the two sides cannot drift.
// Bytes that are valid UTF-8 travel as a JSON string, anything else as base64 with
// `<field>_encoding: "base64"`; `attempts` is a number.

/// Bytes as the records carry them.
public struct RecordBytes: Sendable, Equatable {
    public var bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Reads `field` of a keyed container (with its optional `<field>_encoding`).
    static func decode<K: CodingKey>(_ c: KeyedDecodingContainer<K>, _ field: K, encoding: K) throws -> RecordBytes? {
        guard let text = try c.decodeIfPresent(String.self, forKey: field) else { return nil }
        if try c.decodeIfPresent(String.self, forKey: encoding) == "base64" {
            guard let data = Data(base64Encoded: text) else {
                throw DecodingError.dataCorruptedError(forKey: field, in: c, debugDescription: "\(field.stringValue) is not valid base64")
            }
            return RecordBytes(Array(data))
        }
        return RecordBytes(Array(text.utf8))
    }
}

/// Any JSON value: a persistent handler's non-string `output`, kept as JSON.
public indirect enum JSONValue: Sendable, Equatable, Codable {
    case null, bool(Bool), integer(Int64), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .integer(i) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .integer(let i): try c.encode(i)
        case .number(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// Compact JSON text, keys sorted.
    public var text: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .integer(let i): return "\(i)"
        case .number(let d): return d.isFinite ? "\(d)" : "null"
        case .string(let s): return JSONObjectWriter.quote(s)
        case .array(let a): return "[" + a.map(\.text).joined(separator: ",") + "]"
        case .object(let o): return "{" + o.sorted { $0.key < $1.key }.map { JSONObjectWriter.quote($0.key) + ":" + $0.value.text }.joined(separator: ",") + "}"
        }
    }
}

/// A handler's output as stored: bytes (stdout, or a string `output`), or one JSON value.
public enum RecordOutput: Sendable, Equatable {
    case bytes([UInt8])
    case json(JSONValue)
}

/// One finished job, pushed to `<prefix><queue>:results` for the writer.
public struct ResultRecord: Sendable, Equatable, Decodable {
    public var queue: String
    public var payload: [UInt8]
    public var status: HandlerOutcome.Status
    public var output: RecordOutput
    public var outputTruncated: Bool
    public var error: String?
    public var attempts: Int
    public var worker: String
    /// The job's id: its instance id when a `Client` enqueued it, else the SHA-1 of the payload.
    public var jobID: String
    /// ISO 8601, UTC, milliseconds.
    public var startedAt: String
    public var finishedAt: String

    public init(queue: String, payload: [UInt8], status: HandlerOutcome.Status, output: RecordOutput, outputTruncated: Bool = false,
                error: String?, attempts: Int, worker: String, jobID: String, startedAt: String, finishedAt: String) {
        self.queue = queue; self.payload = payload; self.status = status; self.output = output
        self.outputTruncated = outputTruncated; self.error = error; self.attempts = attempts; self.worker = worker
        self.jobID = jobID; self.startedAt = startedAt; self.finishedAt = finishedAt
    }

    enum CodingKeys: String, CodingKey {
        case queue, payload, payloadEncoding = "payload_encoding", status, output, outputEncoding = "output_encoding"
        case outputTruncated = "output_truncated", error, attempts, worker, jobID = "job_id", startedAt = "started_at", finishedAt = "finished_at"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        queue = try c.decode(String.self, forKey: .queue)
        payload = try RecordBytes.decode(c, .payload, encoding: .payloadEncoding)?.bytes ?? []
        status = try c.decode(HandlerOutcome.Status.self, forKey: .status)
        if let bytes = try? RecordBytes.decode(c, .output, encoding: .outputEncoding) {
            output = .bytes(bytes.bytes)
        } else {
            let value = try c.decodeIfPresent(JSONValue.self, forKey: .output) ?? .null
            output = value == .null ? .bytes([]) : .json(value)
        }
        outputTruncated = try c.decodeIfPresent(Bool.self, forKey: .outputTruncated) ?? false
        error = try c.decodeIfPresent(String.self, forKey: .error)
        attempts = try c.decode(Int.self, forKey: .attempts)
        worker = try c.decode(String.self, forKey: .worker)
        jobID = try c.decodeIfPresent(String.self, forKey: .jobID) ?? ""
        startedAt = try c.decode(String.self, forKey: .startedAt)
        finishedAt = try c.decode(String.self, forKey: .finishedAt)
    }

    public var encoded: [UInt8] {
        var w = JSONObjectWriter()
        w.string("queue", queue)
        w.bytes("payload", payload)
        w.string("status", status.rawValue)
        switch output {
        case .bytes(let b): w.bytes("output", b)
        case .json(let v): w.raw("output", v.text)
        }
        if outputTruncated { w.bool("output_truncated", true) }
        w.string("error", error)
        w.number("attempts", attempts)
        w.string("worker", worker)
        w.string("job_id", jobID)
        w.string("started_at", startedAt)
        w.string("finished_at", finishedAt)
        return w.data
    }
}

/// A job that failed `--max-attempts` times, in `<prefix><queue>:dead`.
public struct DeadLetter: Sendable, Equatable, Decodable {
    public var queue: String
    public var payload: [UInt8]
    public var error: String
    public var attempts: Int
    public var worker: String
    public var failedAt: String
    /// The job's id, as in its result record ("" in entries written before it was recorded).
    public var jobID: String

    public init(queue: String, payload: [UInt8], error: String, attempts: Int, worker: String, failedAt: String, jobID: String = "") {
        self.queue = queue; self.payload = payload; self.error = error; self.attempts = attempts; self.worker = worker; self.failedAt = failedAt
        self.jobID = jobID
    }

    enum CodingKeys: String, CodingKey {
        case queue, payload, payloadEncoding = "payload_encoding", error, attempts, worker, failedAt = "failed_at", jobID = "job_id"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        queue = try c.decodeIfPresent(String.self, forKey: .queue) ?? ""
        payload = try RecordBytes.decode(c, .payload, encoding: .payloadEncoding)?.bytes ?? []
        error = try c.decodeIfPresent(String.self, forKey: .error) ?? ""
        attempts = try c.decodeIfPresent(Int.self, forKey: .attempts) ?? 0
        worker = try c.decodeIfPresent(String.self, forKey: .worker) ?? ""
        failedAt = try c.decodeIfPresent(String.self, forKey: .failedAt) ?? ""
        jobID = try c.decodeIfPresent(String.self, forKey: .jobID) ?? ""
    }

    public var encoded: [UInt8] {
        var w = JSONObjectWriter()
        w.string("queue", queue)
        w.bytes("payload", payload)
        w.string("error", error)
        w.number("attempts", attempts)
        w.string("worker", worker)
        w.string("failed_at", failedAt)
        if !jobID.isEmpty { w.string("job_id", jobID) }
        return w.data
    }
}

/// One job line to a persistent handler.
public struct PersistentRequest: Sendable, Equatable, Decodable {
    public var id: String
    public var queue: String
    public var attempt: Int
    public var payload: [UInt8]

    public init(id: String, queue: String, attempt: Int, payload: [UInt8]) {
        self.id = id; self.queue = queue; self.attempt = attempt; self.payload = payload
    }

    enum CodingKeys: String, CodingKey { case id, queue, attempt, payload, payloadEncoding = "payload_encoding" }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        queue = try c.decode(String.self, forKey: .queue)
        attempt = try c.decode(Int.self, forKey: .attempt)
        payload = try RecordBytes.decode(c, .payload, encoding: .payloadEncoding)?.bytes ?? []
    }

    /// The line, newline included.
    public var line: [UInt8] {
        var w = JSONObjectWriter()
        w.string("id", id)
        w.string("queue", queue)
        w.number("attempt", attempt)
        w.bytes("payload", payload)
        return w.data + [UInt8(ascii: "\n")]
    }
}

/// A persistent handler's answer line: `{"status":"ok"|"failed", "output":…, "error":…,
/// "restart":true}` (`"ok": true|false` is accepted instead of `status`).
public struct PersistentAnswer: Sendable, Equatable, Decodable {
    public var isOK: Bool
    public var output: JSONValue
    public var error: String?
    /// The handler asks for a fresh process before the next job.
    public var restart: Bool

    enum CodingKeys: String, CodingKey { case status, ok, output, error, restart }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let status = try? c.decode(String.self, forKey: .status) {
            guard status == "ok" || status == "failed" else {
                throw DecodingError.dataCorruptedError(forKey: .status, in: c, debugDescription: "status must be ok or failed")
            }
            isOK = status == "ok"
        } else {
            isOK = try c.decode(Bool.self, forKey: .ok)
        }
        output = try c.decodeIfPresent(JSONValue.self, forKey: .output) ?? .null
        error = try? c.decodeIfPresent(String.self, forKey: .error)
        restart = (try? c.decodeIfPresent(Bool.self, forKey: .restart)) ?? false
    }
}
