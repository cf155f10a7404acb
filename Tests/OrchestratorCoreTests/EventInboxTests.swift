import Foundation
import OrchestratorCore
import Testing

@Suite("EventInbox: events from other threads reach the loop (no I/O)")
struct EventInboxTests {
    @Test("a waiting take returns what another thread posts, in order, and each event once")
    func postWakesTake() {
        let inbox = EventInbox()
        let poster = Thread {
            for sig in 1...50 { inbox.post(.signal(Int32(sig))) }
        }
        var got: [SupervisorEvent] = []
        poster.start()
        // Bounded: a lost wake-up ends each wait after 60 s with nothing, and the count stays short.
        while got.count < 50 {
            let batch = inbox.take(waitingFor: .seconds(60))
            if batch.isEmpty { break }
            got += batch
        }
        #expect(got == (1...50).map { .signal(Int32($0)) })
        #expect(inbox.take(waitingFor: .zero).isEmpty, "nothing is delivered twice")
    }

    @Test("with nothing posted, a take returns empty once its wait is over, however many wake-ups are left over")
    func timesOut() {
        let inbox = EventInbox()
        for _ in 0..<3 { inbox.post(.signal(15)) }
        #expect(inbox.take(waitingFor: .milliseconds(1)).count == 3)
        #expect(inbox.take(waitingFor: .milliseconds(20)).isEmpty)
    }
}

@Suite("SignalEvents: the forwarding has a stop")
struct SignalEventsTests {
    /// Delivery itself is covered end to end (the orchestrator drains on TERM): in this test
    /// process, with the test runner's threads, a process-directed signal may land on a thread
    /// where it is ignored.
    @Test("stop cancels every source; a signal after it posts nothing")
    func stopCancels() {
        let inbox = EventInbox()
        let sources = SignalEvents.forward([SIGUSR2], to: inbox)
        #expect(sources.count == 1 && !sources.contains { $0.isCancelled })
        SignalEvents.stop(sources)
        #expect(sources.allSatisfy { $0.isCancelled })
        kill(getpid(), SIGUSR2)
        #expect(inbox.take(waitingFor: .milliseconds(200)).isEmpty)
    }
}
