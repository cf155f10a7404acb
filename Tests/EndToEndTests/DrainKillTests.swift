import Foundation
import OrchestratorCore
import Testing
import TestSupport

/// A worker SIGKILLed at the drain deadline: the operator stopped its job, the robot did not fail it.
@Suite("drain deadline kills", .requiresRedis, .serialized)
struct DrainKillTests {
    @Test("three drains in a row past --drain-timeout never dead-letter a healthy job: requeued untouched, drain.done says killed=1 and its id, exit 0")
    func drainKillDoesNotCountTheAttempt() throws {
        let h = try OrchestratorHarness("drainkill")
        let q = h.keys("q")
        try h.redis.lpush(q.pending, strings: ["long job"])
        let id = SHA1.hex(Array("long job".utf8))
        for round in 1...3 {
            let o = try h.start(["--queue", "q", "--handler", "q=sleep 60", "--drain-timeout", "1", "--max-attempts", "3"])
            #expect(waitUntil { (try? h.busyWorkers().count) == 1 }, "round \(round): \(h.log)")
            o.signal(SIGTERM)
            #expect(o.wait(timeout: .seconds(30)) == .exited(0), "round \(round): \(h.log)")
            let done = h.log.split(separator: "\n").last { $0.contains(LogEvents.drainDone) }.map(String.init) ?? ""
            #expect(done.contains("killed=1") && done.contains("requeued=\(id)"), "round \(round): \(done)")
            // Back at the front of the queue as it was: the bare payload, no attempt counted.
            let elements = try h.redis.lrange(q.pending)
            #expect(elements == [Array("long job".utf8)], "round \(round): \(elements.map { String(decoding: $0, as: UTF8.self) })")
            #expect(try h.redis.llen(q.dead) == 0)
        }
        // The job is still on its first attempt: a working handler finishes it with attempts 1.
        let o = try h.start(["--queue", "q", "--handler", "q=cat", "--max-attempts", "3"])
        #expect(waitUntil { (try? h.results("q").count) == 1 }, "\(h.log)")
        o.signal(SIGTERM)
        #expect(o.wait(timeout: .seconds(30)) == .exited(0))
        let record = try #require(try h.results("q").first)
        #expect(record["status"] as? String == "ok" && record["attempts"] as? Int == 1, "\(record)")
        #expect(try h.redis.llen(q.dead) == 0)
    }
}
