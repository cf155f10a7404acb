@testable import Dashboard
import Foundation
@testable import OrchestratorCore
import Testing

@Suite("dashboard answers: ResponseEncodable types through OrderedJSONEncoder, health probes (pure)")
struct DashboardAnswerTests {
    @Test("keys in declaration order, nil fields left out, '/' not escaped, strings escaped as the logs do")
    func order() throws {
        #expect(try OrderedJSONEncoder.text(QueueActionAnswer(queue: "a/b", action: "pause")) == #"{"queue":"a/b","action":"pause"}"#)
        #expect(try OrderedJSONEncoder.text(QueueActionAnswer(queue: "q", action: "requeue-dead", requeued: 0)) == #"{"queue":"q","action":"requeue-dead","requeued":0}"#)
        #expect(try OrderedJSONEncoder.text(ErrorAnswer(error: "a\"b\nc\u{1b}")) == #"{"error":"a\"b\nc\u001b"}"#)
        #expect(try OrderedJSONEncoder.text(JobActionAnswer(queue: "q", action: .retryNow, id: nil, count: 3)) == #"{"queue":"q","action":"retry-now","promoted":3}"#)
    }

    @Test("history samples and events keep their stored field order; alerts are their stored records, as is")
    func fields() throws {
        let events = [FieldsAnswer([("id", "1-0"), ("type", "scale"), ("ts", "5"), ("host", "h/1")]), FieldsAnswer([])]
        #expect(try OrderedJSONEncoder.text(events) == #"[{"id":"1-0","type":"scale","ts":"5","host":"h/1"},{}]"#)
        #expect(try OrderedJSONEncoder.text([RawJSON(#"{"rule":"backlog"}"#), RawJSON("[1]")]) == #"[{"rule":"backlog"},[1]]"#)
        #expect(try OrderedJSONEncoder.text([FieldsAnswer]()) == "[]")
    }

    @Test("a dead letter: payload when UTF-8, else payload_base64")
    func deadItems() throws {
        let text = DeadLetters.Entry(letter: DeadLetter(queue: "q", payload: Array("héllo".utf8), error: "e", attempts: 2, worker: "w", failedAt: "t"), raw: [])
        let binary = DeadLetters.Entry(letter: DeadLetter(queue: "q", payload: [0xFF, 0xFE], error: "e", attempts: 1, worker: "w", failedAt: "t", jobID: "j-1"), raw: [])
        let answer = DeadListAnswer(queue: "q", total: 7, items: [DeadItem(text), DeadItem(binary)])
        #expect(try OrderedJSONEncoder.text(answer) == #"{"queue":"q","total":7,"items":["#
            + #"{"id":"\#(SHA1.hex(Array("héllo".utf8)))","payload":"héllo","error":"e","attempts":2,"failed_at":"t","worker":"w"},"#
            + #"{"id":"j-1","payload_base64":"//4=","error":"e","attempts":1,"failed_at":"t","worker":"w"}]}"#)
    }

    @Test("GET /api/jobs/ID answers exactly what `orchestrator job --json` prints, in every state", arguments: [
        JobLocation(id: "a", queue: "q", state: .pending),
        JobLocation(id: "a", queue: "q", state: .inFlight, worker: "q-1-h-9"),
        JobLocation(id: "a", queue: "q", state: .retry, dueAt: "2100-01-01T00:00:00.000Z"),
        JobLocation(id: "a", queue: "q", state: .dead, error: "boom\n", attempts: 3),
        JobLocation(id: "a", queue: "q", state: .done, result: Array(#"{"queue":"q","status":"ok"}"#.utf8)),
    ])
    func jobs(_ location: JobLocation) throws {
        #expect(try OrderedJSONEncoder.text(JobAnswer(location)) == location.json)
    }

    @Test("health probes: /metrics, /livez, /readyz from the snapshot; without one (dashboard) only /metrics is 404")
    func health() {
        let now = ContinuousClock().now
        let fresh = (text: "rpa_up 1\n", healthy: true, updatedAt: Optional(now))
        let stale = (text: "", healthy: false, updatedAt: Optional(now - .seconds(60)))
        #expect(HealthProbe.metrics.answer(fresh, now: now, liveWindow: .seconds(30)) == (200, "rpa_up 1\n"))
        #expect(HealthProbe.live.answer(fresh, now: now, liveWindow: .seconds(30)) == (200, "ok\n"))
        #expect(HealthProbe.live.answer(stale, now: now, liveWindow: .seconds(30)).status == 503)
        #expect(HealthProbe.ready.answer(stale, now: now, liveWindow: .seconds(30)) == (503, "redis unreadable or draining\n"))
        #expect(HealthProbe.metrics.answer(nil, now: now, liveWindow: .seconds(30)).status == 404)
        #expect(HealthProbe.ready.answer(nil, now: now, liveWindow: .seconds(30)) == (200, "ok\n"))
    }
}
