import Foundation

/// Builds JSON text by hand so byte payloads can be carried exactly: a value that is valid UTF-8
/// becomes a JSON string, anything else is base64 with a `<field>_encoding: "base64"` marker.
public struct JSONObjectWriter {
    private var parts: [String] = []

    public init() {}

    public mutating func string(_ key: String, _ value: String?) {
        parts.append("\(Self.quote(key)):\(value.map(Self.quote) ?? "null")")
    }

    public mutating func number(_ key: String, _ value: Int) {
        parts.append("\(Self.quote(key)):\(value)")
    }

    public mutating func bool(_ key: String, _ value: Bool) {
        parts.append("\(Self.quote(key)):\(value)")
    }

    /// Raw JSON (already encoded) as the value.
    public mutating func raw(_ key: String, _ json: String) {
        parts.append("\(Self.quote(key)):\(json)")
    }

    /// Bytes as a string when they are UTF-8, otherwise base64 plus `<key>_encoding`.
    public mutating func bytes(_ key: String, _ value: [UInt8]?) {
        guard let value else { return string(key, nil) }
        if let text = String(validatingUTF8Bytes: value) {
            string(key, text)
        } else {
            string(key, Data(value).base64EncodedString())
            string("\(key)_encoding", "base64")
        }
    }

    public var text: String { "{" + parts.joined(separator: ",") + "}" }
    public var data: [UInt8] { Array(text.utf8) }

    public static func quote(_ s: String) -> String {
        // Most values (ids, time stamps, queue names) need no escape: copy them whole.
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) { return "\"" + s + "\"" }
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

extension String {
    /// nil when the bytes are not valid UTF-8 (a NUL byte is valid UTF-8 and is kept).
    public init?(validatingUTF8Bytes bytes: [UInt8]) {
        guard let s = String(validating: bytes, as: UTF8.self) else { return nil }
        self = s
    }
}
