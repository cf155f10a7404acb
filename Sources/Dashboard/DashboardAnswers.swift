import Foundation
import Hummingbird
import OrchestratorCore

// The `/api/` answers, one type each, encoded by `OrderedJSONEncoder` (keys in declaration order,
// optional fields left out when nil).

/// `{"error": message}`, with any status.
struct ErrorAnswer: ResponseEncodable, Sendable {
    let error: String
}

/// A flat object of string fields in their stored order: a history sample, an event.
struct FieldsAnswer: Encodable, Sendable {
    let fields: [(String, String)]
    init(_ fields: [(String, String)]) { self.fields = fields }

    struct Key: CodingKey {
        let stringValue: String
        init(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        for (k, v) in fields { try c.encode(v, forKey: Key(stringValue: k)) }
    }
}

/// `GET /api/config`.
struct ConfigAnswer: ResponseEncodable, Sendable {
    let mode: String
    let version: String
    let prefix: String
    let actions: Bool
}

/// `POST /api/queues/Q/pause|resume|requeue-dead`.
struct QueueActionAnswer: ResponseEncodable, Sendable {
    let queue: String
    let action: String
    var requeued: Int?
}

/// `GET /api/dead?queue=Q`: newest first.
struct DeadListAnswer: ResponseEncodable, Sendable {
    let queue: String
    let total: Int
    let items: [DeadItem]
}

/// One dead letter: `payload` when it is UTF-8, else `payload_base64`.
struct DeadItem: Encodable, Sendable {
    let id: String
    var payload: String?
    var payloadBase64: String?
    let error: String
    let attempts: Int
    let failedAt: String
    let worker: String

    enum CodingKeys: String, CodingKey {
        case id, payload, payloadBase64 = "payload_base64", error, attempts, failedAt = "failed_at", worker
    }

    init(_ e: DeadLetters.Entry) {
        id = e.id
        if let text = String(validating: e.payload, as: UTF8.self) { payload = text } else { payloadBase64 = Data(e.payload).base64EncodedString() }
        error = e.error
        attempts = e.attempts
        failedAt = e.failedAt
        worker = e.letter.worker
    }
}

/// `GET /api/jobs/ID`: where the job is (`JobLocation`), with what goes with its state.
struct JobAnswer: ResponseEncodable, Sendable {
    let id: String
    let queue: String
    let state: String
    var worker: String?
    var dueAt: String?
    var error: String?
    var attempts: Int?
    var result: RawJSON?

    enum CodingKeys: String, CodingKey { case id, queue, state, worker, dueAt = "due_at", error, attempts, result }

    init(_ l: JobLocation) {
        id = l.id; queue = l.queue; state = l.state.rawValue; worker = l.worker; dueAt = l.dueAt; error = l.error; attempts = l.attempts
        result = l.result.map { RawJSON(String(decoding: $0, as: UTF8.self)) }
    }
}

/// `POST /api/queues/Q/dead/ID/requeue|delete`, `…/dead/requeue-all|delete-all`, `…/retry-now`.
struct JobActionAnswer: ResponseEncodable, Sendable {
    let queue: String
    let action: String
    var id: String?
    var requeued: Int?
    var deleted: Int?
    var promoted: Int?

    init(queue: String, action: QueueControl.JobAction, id: String?, count: Int) {
        self.queue = queue
        self.action = action.rawValue
        self.id = id
        switch action {
        case .requeue: requeued = count
        case .delete: deleted = count
        case .retryNow: promoted = count
        }
    }
}
