import Foundation
import Hummingbird
import OrchestratorCore

/// JSON text that is already built (the `status --json` document the CLI shares, a stored result
/// record): encoded as is by `OrderedJSONEncoder`.
struct RawJSON: ResponseEncodable, Sendable {
    let text: String
    init(_ text: String) { self.text = text }
    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(text)  // another encoder sees a string; OrderedJSONEncoder inserts it as JSON
    }
}

/// The dashboard's response encoder: compact JSON with the keys in the order each type encodes
/// them (Foundation's JSONEncoder orders them by hash, or sorted), `/` not escaped, `RawJSON`
/// inserted verbatim, `application/json; charset=utf-8`. Every `/api/` answer goes through it.
struct OrderedJSONEncoder: ResponseEncoder {
    func encode(_ value: some Encodable, from request: Request, context: some RequestContext) throws -> Response {
        Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(string: try Self.text(value))))
    }

    static func text(_ value: some Encodable) throws -> String {
        let root = JSONNode()
        try root.encode(value)
        return root.text
    }
}

/// One value being encoded: a scalar already rendered, an object (keys in insertion order) or an array.
final class JSONNode {
    enum Kind { case scalar(String), object, array }
    var kind: Kind = .scalar("null")
    var keys: [String] = []
    var members: [String: JSONNode] = [:]
    var items: [JSONNode] = []

    func encode(_ value: some Encodable) throws {
        if let raw = value as? RawJSON { kind = .scalar(raw.text); return }
        try value.encode(to: NodeEncoder(node: self))
    }

    func child(_ key: String) -> JSONNode {
        kind = .object
        if let existing = members[key] { return existing }
        let node = JSONNode()
        keys.append(key)
        members[key] = node
        return node
    }

    func appended() -> JSONNode {
        kind = .array
        let node = JSONNode()
        items.append(node)
        return node
    }

    var text: String {
        switch kind {
        case .scalar(let s): return s
        case .array: return "[" + items.map(\.text).joined(separator: ",") + "]"
        case .object: return "{" + keys.compactMap { k in members[k].map { JSONObjectWriter.quote(k) + ":" + $0.text } }.joined(separator: ",") + "}"
        }
    }
}

private struct NodeEncoder: Encoder {
    let node: JSONNode
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        node.kind = .object
        return KeyedEncodingContainer(Keyed<Key>(node: node))
    }
    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        node.kind = .array
        return Unkeyed(node: node)
    }
    func singleValueContainer() -> any SingleValueEncodingContainer { Single(node: node) }
}

private struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: JSONNode
    var codingPath: [any CodingKey] { [] }
    mutating func encodeNil(forKey key: Key) throws { node.child(key.stringValue).kind = .scalar("null") }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { try node.child(key.stringValue).encode(value) }
    mutating func nestedContainer<N: CodingKey>(keyedBy keyType: N.Type, forKey key: Key) -> KeyedEncodingContainer<N> {
        NodeEncoder(node: node.child(key.stringValue)).container(keyedBy: N.self)
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        NodeEncoder(node: node.child(key.stringValue)).unkeyedContainer()
    }
    mutating func superEncoder() -> any Encoder { NodeEncoder(node: node.child("super")) }
    mutating func superEncoder(forKey key: Key) -> any Encoder { NodeEncoder(node: node.child(key.stringValue)) }
}

private struct Unkeyed: UnkeyedEncodingContainer {
    let node: JSONNode
    var codingPath: [any CodingKey] { [] }
    var count: Int { node.items.count }
    mutating func encodeNil() throws { node.appended().kind = .scalar("null") }
    mutating func encode<T: Encodable>(_ value: T) throws { try node.appended().encode(value) }
    mutating func nestedContainer<N: CodingKey>(keyedBy keyType: N.Type) -> KeyedEncodingContainer<N> {
        NodeEncoder(node: node.appended()).container(keyedBy: N.self)
    }
    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { NodeEncoder(node: node.appended()).unkeyedContainer() }
    mutating func superEncoder() -> any Encoder { NodeEncoder(node: node.appended()) }
}

private struct Single: SingleValueEncodingContainer {
    let node: JSONNode
    var codingPath: [any CodingKey] { [] }
    mutating func encodeNil() throws { node.kind = .scalar("null") }
    mutating func encode(_ value: Bool) throws { node.kind = .scalar(value ? "true" : "false") }
    mutating func encode(_ value: String) throws { node.kind = .scalar(JSONObjectWriter.quote(value)) }
    mutating func encode(_ value: Double) throws { node.kind = .scalar(value.isFinite ? "\(value)" : "null") }
    mutating func encode(_ value: Float) throws { try encode(Double(value)) }
    mutating func encode(_ value: Int) throws { node.kind = .scalar("\(value)") }
    mutating func encode(_ value: Int64) throws { node.kind = .scalar("\(value)") }
    mutating func encode<T: Encodable>(_ value: T) throws { try node.encode(value) }
}
