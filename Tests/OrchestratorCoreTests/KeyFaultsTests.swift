import Foundation
import Logging
import OrchestratorCore
import Testing
import TestSupport

/// `KeyFaults`: a key holding no job that the server refuses is logged once, named, and once more when it works again.
@Suite("key faults (pure)")
struct KeyFaultsTests {
    /// Each line as "<message> key=<its key metadata>".
    func keyed(_ log: LineLog) -> [String] { log.entries.map { "\($0.message) key=\($0.metadata["key"] ?? "")" } }

    @Test("a heartbeat pipeline whose HSET is refused while its PEXPIRE succeeds: one key_error, none on repeat, one key_ok when it works")
    func onceEachWay() {
        let lines = LineLog()
        var faults = KeyFaults()
        let commands: [[RedisArg]] = [["HSET", "hb", "state", "idle"], ["PEXPIRE", "hb", "10000"]]
        let refused: [RedisReply] = [.error("WRONGTYPE Operation against a key holding the wrong kind of value"), .integer(1)]
        faults.check(commands, refused, skipped: "heartbeat not written", logger: lines.logger)
        faults.check(commands, refused, skipped: "heartbeat not written", logger: lines.logger)
        #expect(keyed(lines) == ["\(LogEvents.keyError) key=hb"])
        #expect(faults.keys == ["hb"])
        faults.check(commands, [.integer(1), .integer(1)], skipped: "heartbeat not written", logger: lines.logger)
        faults.check(commands, [.integer(1), .integer(1)], skipped: "heartbeat not written", logger: lines.logger)
        #expect(keyed(lines) == ["\(LogEvents.keyError) key=hb", "\(LogEvents.keyOK) key=hb"])
    }

    @Test("a script's refusal names its key; NOSCRIPT and LOADING say nothing about a key")
    func scriptRefusals() {
        let lines = LineLog()
        var faults = KeyFaults()
        let refusal = "WRONGTYPE fila:q:retry is a string, not a zset; nothing was written"
        #expect(RedisError.server(refusal).wrongTypeKey == "fila:q:retry")
        #expect(RedisError.server("WRONGTYPE Operation against a key holding the wrong kind of value").wrongTypeKey == nil)
        let commands: [[RedisArg]] = [["EVALSHA", "abc", "2", "fila:q:retry", "fila:q"], ["EVALSHA", "abc", "2", "x", "y"], ["LLEN", "z"]]
        faults.check(commands, [.error(refusal), .error("NOSCRIPT No matching script"), .error("LOADING Redis is loading")],
                     skipped: "not promoted", logger: lines.logger)
        #expect(keyed(lines) == ["\(LogEvents.keyError) key=fila:q:retry"])
    }
}
