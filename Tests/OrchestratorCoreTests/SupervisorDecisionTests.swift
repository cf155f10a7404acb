import Foundation
import Logging
@testable import OrchestratorCore
import Testing
import TestSupport

/// The supervisor's scaling decisions, one poll at a time, with Redis answered by a `FakeRedis`
/// and processes by a launcher that starts none. The scripts and the wire are tested against
/// redis-server (SupervisorEventTests, FleetLeaseTests…); here only what it decides from what it reads.
@Suite("Supervisor decisions: one poll against FakeRedis and a fake launcher")
struct SupervisorDecisionTests {
    let redis = FakeRedis()
    let launcher = RecordingLauncher()
    let log = LineLog()

    /// A supervisor of queues `a` and `b` (prefix `p:`), alone in its fleet: the renewal
    /// confirms it and each slot asked for is granted.
    func supervisor(_ extra: (inout OrchestratorSettings.Flags) -> Void = { _ in }) throws -> Supervisor {
        var flags = OrchestratorSettings.Flags()
        flags.queues = ["a", "b"]
        flags.handlers = ["a=cat", "b=cat"]
        flags.values[.redisURL] = "redis://fake:6379/0"
        flags.values[.prefix] = "p:"
        extra(&flags)
        let settings = try OrchestratorSettings.resolve(flags, OptionResolver(environment: [:]), defaultWorkerPath: "/bin/true")
        redis.answer(script: FleetScripts.tick) { _, _ in .array([.string(Array("ok".utf8)), .integer(0), .array([]), .array([]), .array([])]) }
        var nextSlot = 0
        redis.answer(script: FleetScripts.acquire) { _, args in
            let count = args.count > 5 ? Int(args[5]) ?? 0 : 0
            let slots = (0..<count).map { _ -> RedisReply in nextSlot += 1; return .integer(nextSlot) }
            return .array([.array(slots), .string([]), .integer(-1)])
        }
        return Supervisor(settings: settings, launcher: launcher, inbox: EventInbox(), link: RedisLink(connection: redis, logger: log.logger),
                          logger: log.logger, environment: ["PATH": "/usr/bin"])
    }

    func queued(_ n: Int) -> FakeRedis.Value { .list((1...n).map { "job-\($0)" }) }
    func launched(_ queue: String) -> [[String]] { launcher.launched.map(\.arguments).filter { $0.dropFirst().first == queue } }

    @Test("120 jobs waiting: one poll starts 3 workers (slots 1-3) and logs the seed's [ESCALAR] line")
    func scalesUp() throws {
        let s = try supervisor()
        redis.data["p:a"] = queued(120)
        s.poll()
        #expect(launched("a") == [["--queue", "a", "--slot", "1"], ["--queue", "a", "--slot", "2"], ["--queue", "a", "--slot", "3"]])
        #expect(launched("b").isEmpty)
        #expect(log.lines.contains("[ESCALAR] a: 120 jobs → criando 3 worker(s) (total: 0 → 3)"))
        #expect(redis.ran(FleetScripts.acquire) == 1)  // one lease request for the three
    }

    @Test("due retries: a queue without a retry backlog costs no promotion script; one whose last read showed retries is promoted every poll")
    func promotionOnlyWithBacklog() throws {
        let s = try supervisor { $0.values[.scaling] = "adaptive" }  // adaptive: the backlogs are read every poll
        final class Keys { var seen: [String] = [] }
        let promoted = Keys()
        redis.answer(script: QueueScripts.promote) { keys, _ in
            promoted.seen.append(keys.first ?? "")
            return .integer(0)
        }
        s.poll()
        s.poll()
        #expect(promoted.seen.isEmpty, "idle queues: no promotion script")
        redis.data["p:a:retry"] = .zset(["t\njob-1": 1])
        s.poll()  // reads a's backlog
        s.poll()
        s.poll()
        #expect(promoted.seen == ["p:a:retry", "p:a:retry"], "a promoted on each poll after its backlog was read, b never")
    }

    @Test("jobs arriving at an idle host: the fleet is read in full before the plan, so its share counts a host that joined since")
    func idleHostReadsFleetBeforePlanning() throws {
        let s = try supervisor()
        final class Calls { var n = 0 }
        let ticks = Calls()
        redis.answer(script: FleetScripts.tick) { _, args in
            ticks.n += 1
            // From the second renewal on, another live host with our caps and room for 6 workers.
            let other = #"{"expires_at":99999999999999,"instance":"i0","caps":"\#(args.count > 4 ? args[4] : "")","capacity":6,"queues":["a","b"]}"#
            let hosts: [RedisReply] = ticks.n > 1 ? [.array([.string(Array("h0".utf8)), .string(Array(other.utf8))])] : []
            return .array([.string(Array("ok".utf8)), .integer(0), .array([]), .array(hosts), .array([])])
        }
        s.poll()  // the first renewal reads the fleet: alone
        s.poll()  // idle: no renewal due yet
        redis.data["p:a"] = queued(120)
        s.poll()
        #expect(ticks.n == 2, "the fleet read again once jobs were seen waiting")
        #expect(launched("a").count < 3, "its share of a fleet target of 3 on 2 hosts, not 3: \(launched("a"))")
        #expect(log.lines.contains { $0.hasPrefix("[ESCALAR] a: 120 jobs") && $0.contains("on 2 hosts") }, "\(log.lines)")
    }

    @Test("Redis unreachable: no worker starts, and the outage is logged once (redis.down), not per command")
    func redisDown() throws {
        let s = try supervisor()
        redis.data["p:a"] = queued(120)
        redis.failure = .connection(code: 111, message: "Connection refused")
        redis.close()
        s.poll()
        s.poll()
        #expect(launcher.launched.isEmpty)
        #expect(log.lines.filter { $0 == LogEvents.redisDown }.count == 1)
        #expect(!log.lines.contains { $0.hasPrefix("[ESCALAR]") })
    }

    @Test("a WRONGTYPE queue key: that queue is held (logged once, no worker), the other queue still scales")
    func wrongTypeHeld() throws {
        let s = try supervisor()
        redis.data["p:a"] = .hash(["oops": "1"])
        redis.data["p:b"] = queued(60)
        s.poll()
        s.poll()
        #expect(launched("a").isEmpty)
        #expect(launched("b").count == 2)
        #expect(log.lines.filter { $0 == "queue.unreadable" }.count == 1)
        #expect(log.lines.contains("[ESCALAR] b: 60 jobs → criando 2 worker(s) (total: 0 → 2)"))
        redis.data["p:a"] = queued(10)  // a list again: read and scaled at the next poll
        s.poll()
        #expect(log.lines.contains("queue.readable"))
        #expect(launched("a").count == 1)
    }

    @Test("a queue key turning WRONGTYPE holds its running workers (no TERM); the same queue emptied drains them")
    func wrongTypeKeepsWorkers() throws {
        let s = try supervisor { $0.values[.scaleDownDelay] = "0s" }
        redis.data["p:a"] = queued(120)
        s.poll()
        #expect(launched("a").count == 3)
        redis.data["p:a"] = .string("overwritten by mistake")
        s.poll()
        s.poll()
        #expect(launcher.signals.isEmpty)
        redis.data["p:a"] = nil  // an empty queue: with no scale-down delay, its workers are drained at once
        s.poll()
        #expect(launcher.signals.filter { $0.signal == SIGTERM }.count == 3)
    }

    @Test("the server forgot its scripts (a restart): the renewal loads the script again and workers still start")
    func scriptsReloaded() throws {
        let s = try supervisor()
        redis.data["p:a"] = queued(40)
        s.poll()  // one worker: a host with workers renews on every poll (an idle one every 5 s)
        #expect(launched("a").count == 1)
        let loads = redis.sent("SCRIPT").filter { $0.dropFirst().first == FleetScripts.tick }.count
        redis.flushScripts()
        redis.data["p:a"] = queued(120)
        s.poll()
        #expect(redis.sent("SCRIPT").filter { $0.dropFirst().first == FleetScripts.tick }.count == loads + 1)
        #expect(launched("a").count == 3)  // the renewal went through: workers may start
        #expect(!log.lines.contains("fleet.renewal_failed"))
    }
}

/// Starts nothing: records each launch and signal. Its pids are made up above the kernel's
/// PID_MAX_LIMIT, and it hands out no `OwnedProcess`, so nothing can signal a real process through it.
final class RecordingLauncher: ProcessLauncher {
    private(set) var launched: [LaunchSpec] = []
    private(set) var signals: [(pid: Int32, signal: Int32)] = []
    private var nextPID: Int32 = 5_000_000

    func launch(_ spec: LaunchSpec) throws(LaunchError) -> Int32 {
        nextPID += 1
        launched.append(spec)
        return nextPID
    }

    func signal(_ pid: Int32, _ signal: Int32) { signals.append((pid, signal)) }
    func owned(_ pid: Int32) -> OwnedProcess? { nil }
}
