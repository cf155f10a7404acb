import Foundation
@testable import OrchestratorCore
import Testing
import TestSupport

/// What a renewal's view changed, as logged (pure: views in, lines out, an injected clock).
@Suite("fleet changes: hosts joined and gone, said once (pure)")
struct FleetChangesTests {
    let log = LineLog()
    let t0 = ContinuousClock.now

    func changes() -> FleetChanges {
        let m = FleetMembership(prefix: "p:", settings: FleetSettings(hostID: "h3", hostMaxWorkers: 6, leaseTTL: .seconds(15)),
                                policy: ScalingPolicy(maxPerQueue: 12, maxTotal: 12))
        return FleetChanges(membership: m, ttl: .seconds(15), logger: log.logger)
    }

    func view(_ ids: [String], rejoined: Bool = false, reset: Bool = false) -> FleetView {
        var v = FleetView(hosts: ids.map { FleetMember(id: $0, capacity: 6, pid: 1, updatedAt: 0, state: "running", workers: 0, machine: "m", startedAt: 0) })
        v.rejoined = rejoined
        v.reset = reset
        return v
    }

    func count(_ event: String) -> Int { log.lines.filter { $0 == event }.count }

    @Test("Redis lost the fleet's keys: the hosts not back yet are not 'gone', their return is not 'joined'; one still missing after a TTL is gone")
    func resetIsNotGone() {
        var c = changes()
        let all: Set<String> = ["h1", "h2", "h3"]
        var r = c.hosts(before: all, view: view(["h3"], rejoined: true, reset: true), lastRenewal: .seconds(1), now: t0)
        #expect(r.gone.isEmpty && r.joined.isEmpty && count("fleet.host_gone") == 0, "\(log.lines)")
        #expect(count("fleet.rejoined") == 1)
        r = c.hosts(before: ["h3"], view: view(["h1", "h3"]), lastRenewal: .seconds(1), now: t0 + .seconds(1))
        #expect(r.joined.isEmpty && count("fleet.host_joined") == 0, "h1 rejoined: not a new host; \(log.lines)")
        r = c.hosts(before: ["h1", "h3"], view: view(["h1", "h3"]), lastRenewal: .seconds(1), now: t0 + .seconds(14))
        #expect(r.gone.isEmpty, "h2 still within the TTL")
        r = c.hosts(before: ["h1", "h3"], view: view(["h1", "h3"]), lastRenewal: .seconds(1), now: t0 + .seconds(15))
        #expect(r.gone == ["h2"] && count("fleet.host_gone") == 1, "h2 not back within a TTL: gone; \(log.lines)")
    }

    @Test("without a reset, a host missing is gone at once and a new one joined")
    func plainChanges() {
        var c = changes()
        var r = c.hosts(before: ["h1", "h2", "h3"], view: view(["h1", "h3"]), lastRenewal: .seconds(1), now: t0)
        #expect(r.gone == ["h2"] && count("fleet.host_gone") == 1)
        r = c.hosts(before: ["h1", "h3"], view: view(["h1", "h2", "h3"]), lastRenewal: .seconds(1), now: t0 + .seconds(1))
        #expect(r.joined == ["h2"] && count("fleet.host_joined") == 1)
    }

    @Test("a fenced worker's exit says how it ended: SIGKILLed by the fence, or stopped by itself first with exit 77")
    func fencedKind() {
        #expect(SupervisedWorker.fencedKind(.signaled(SIGKILL)) == "fenced (SIGKILLed by the lease fence)")
        #expect(SupervisedWorker.fencedKind(.exited(77)).contains("stopped by itself first: exit 77"))
    }
}
