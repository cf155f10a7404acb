import Foundation
import Logging
import OrchestratorCore
import Testing

@Suite("terminal escaping and shell quoting (pure)")
struct TerminalTextTests {
    @Test("control characters (ESC, BEL, CR, C1 CSI, DEL) are written as the JSON logs write them; other text is kept")
    func escapes() {
        #expect(TerminalText.safe("plain text, ção \\ ok") == "plain text, ção \\ ok")
        #expect(TerminalText.safe("\u{1B}]0;pwned\u{07}\r\n\t\u{7F}\u{9B}2J") == "\\u001b]0;pwned\\u0007\\r\\n\\t\\u007f\\u009b2J")
        #expect(TerminalText.safe("a\nb\u{1B}c", keepingNewlines: true) == "a\nb\\u001bc")
    }

    @Test("shellQuoted: plain names stay, anything else is single-quoted so a shell reads it back as one word")
    func quoting() throws {
        #expect(shellQuoted("conferencia") == "conferencia")
        #expect(shellQuoted("q-1.a_b") == "q-1.a_b")
        #expect(shellQuoted("q$(touch x)") == "'q$(touch x)'")
        #expect(shellQuoted("q`id`") == "'q`id`'")
        #expect(shellQuoted("a;b") == "'a;b'")
        #expect(shellQuoted("it's") == "'it'\\''s'")
        #expect(shellQuoted("") == "''")
        // What /bin/sh makes of each quoted word: the word itself, nothing run.
        for word in ["q$(echo pwned)", "q`echo pwned`", "a;echo pwned", "it's", "x'$(y)'z", "\\$HOME"] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "printf %s \(shellQuoted(word))"]
            let out = Pipe()
            process.standardOutput = out
            try process.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            #expect(String(decoding: data, as: UTF8.self) == word)
        }
    }

    @Test("text log lines escape control characters in metadata and leave the event to JSON; the seed line is kept byte for byte")
    func textLogs() throws {
        let line = LineLogHandler.format(level: .info, message: "[EQUILIBRIO] q: 3 jobs → 1 worker(s) ativo(s). Sem mudanças.",
                                         metadata: ["event": "scale.steady"], settings: LogSettings(), milliseconds: 0)
        #expect(line.hasSuffix("| [EQUILIBRIO] q: 3 jobs → 1 worker(s) ativo(s). Sem mudanças."), "\(line)")
        let stderr = LineLogHandler.format(level: .info, message: "handler.stderr", metadata: ["line": "\u{1B}[2Jgone\r"],
                                           settings: LogSettings(), milliseconds: 0)
        #expect(stderr.hasSuffix(#"handler.stderr line="\u001b[2Jgone\r""#) && !stderr.contains("\u{1B}"), "\(stderr)")
        var json = LogSettings()
        json.format = .json
        for decision in [ScaleDecision(queue: "q", direction: .up, pending: 1, from: 0, to: 1),
                         ScaleDecision(queue: "q", direction: .down, pending: 0, from: 1, to: 0),
                         ScaleDecision(queue: "q", direction: .steady, pending: 1, from: 1, to: 1)] {
            let (line, event) = (decision.line, decision.event)
            let text = LineLogHandler.format(level: .info, message: line, metadata: ["event": "\(event)"], settings: json, milliseconds: 0)
            let o = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            #expect(o["event"] as? String == event && o["message"] as? String == line)
        }
    }
}
