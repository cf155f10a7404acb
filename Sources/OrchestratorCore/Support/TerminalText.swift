import Foundation

/// Text from Redis (payloads, errors, a handler's output, alert messages) made safe to print on
/// an operator's terminal: every control character (C0, DEL, C1: ESC, BEL, CR, CSI…) is written
/// as the JSON logs write it (`\n`, `\r`, `\t`, `\u001b`), so a payload or a scraped page
/// cannot retitle, clear or rewrite the terminal. Other characters, backslashes included, are
/// kept as they are (this is for reading, not for parsing back).
public enum TerminalText {
    public static func safe(_ s: String, keepingNewlines: Bool = false) -> String {
        guard s.unicodeScalars.contains(where: { isControl($0) && !(keepingNewlines && $0 == "\n") }) else { return s }
        var out = ""
        out.reserveCapacity(s.utf8.count + 8)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\n" where keepingNewlines: out += "\n"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where isControl(scalar): out += "\\u" + hex4(scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// C0 controls, DEL and the C1 controls (U+0080–U+009F: 8-bit CSI, OSC…).
    public static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    static func hex4(_ v: UInt32) -> String {
        let digits = String(v, radix: 16)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}

/// Quotes a word for a POSIX shell (`sh`, `bash`): hints that name a queue (`orchestrator dead
/// --queue …`) can be pasted as they are, whatever the name holds (`$()`, backticks, `;`, `'`).
public func shellQuoted(_ word: String) -> String {
    let plain = !word.isEmpty && word.unicodeScalars.allSatisfy { s in
        ("a"..."z").contains(s) || ("A"..."Z").contains(s) || ("0"..."9").contains(s) || "-_.,:/@%+=".unicodeScalars.contains(s)
    }
    if plain { return word }
    return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
