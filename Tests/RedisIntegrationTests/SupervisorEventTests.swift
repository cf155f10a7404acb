import Foundation
import Logging
@testable import OrchestratorCore
import Testing
import TestSupport

/// Records what the supervisor asks of processes, instead of starting any. Its pids are made up
/// above the kernel's PID_MAX_LIMIT (4,194,304), so no process can have one, and it hands out no
/// `OwnedProcess`: nothing (the fence watchdog included) can signal a process for real through it.
final class FakeLauncher: ProcessLauncher {
    var launched: [(pid: Int32, spec: LaunchSpec)] = []
    var signals: [(pid: Int32, signal: Int32)] = []
    var nextPID: Int32 = 5_000_000

    func launch(_ spec: LaunchSpec) throws(LaunchError) -> Int32 {
        nextPID += 1
        launched.append((nextPID, spec))
        return nextPID
    }

    func signal(_ pid: Int32, _ signal: Int32) { signals.append((pid, signal)) }
    func owned(_ pid: Int32) -> OwnedProcess? { nil }
    func signalled(_ sig: Int32) -> Set<Int32> { Set(signals.filter { $0.signal == sig }.map(\.pid)) }
}

/// The supervisor's event handling driven by a fake launcher: no process starts; Redis is the
/// test server (requeues are real).
@Suite("Supervisor event handling with a fake launcher", .requiresRedis, .serialized)
struct SupervisorEventTests {
    let prefix = TestEnv.uniquePrefix("sup")
    let launcher = FakeLauncher()
    let log = LineLog()

    func supervisor(_ extra: (inout OrchestratorSettings.Flags) -> Void = { _ in }) throws -> Supervisor {
        try makeSupervisor(prefix: prefix, launcher: launcher, logger: log.logger) { flags in
            flags.values[.drainTimeout] = "100ms"
            extra(&flags)
        }
    }

    func push(_ n: Int) throws {
        let redis = try TestEnv.connect()
        try redis.lpush(prefix + "q", strings: (1...n).map { "job-\($0)" })
    }

    @Test("a poll with 120 jobs launches 3 workers: argv holds only queue and slot, settings travel in the environment")
    func launches() throws {
        let s = try supervisor()
        try push(120)
        s.poll()
        #expect(launcher.launched.map(\.spec.arguments) == [["--queue", "q", "--slot", "1"], ["--queue", "q", "--slot", "2"], ["--queue", "q", "--slot", "3"]])
        #expect(launcher.launched.allSatisfy { $0.spec.environment["ORCHESTRATOR_PID"] == "\(getpid())" && $0.spec.environment["HANDLER_Q"] == "cat" })
        #expect(log.lines.contains("[ESCALAR] q: 120 jobs → criando 3 worker(s) (total: 0 → 3)"))
    }

    @Test("a crash requeues the worker's job with its attempt counted, and the restart waits for the backoff")
    func crash() throws {
        let s = try supervisor()
        try push(10)
        s.poll()
        let (pid, _) = try #require(launcher.launched.first)
        let redis = try TestEnv.connect()
        // The worker had taken a job into its processing list when it died.
        let id = QueueKeys.workerID(queue: "q", slot: 1, host: WallClock.hostName(), pid: pid)
        _ = try redis.send(["LMOVE", RedisArg(prefix + "q"), RedisArg(QueueKeys(prefix: prefix, queue: "q").processing(id)), "RIGHT", "LEFT"])
        s.handle(.workerExited(pid: pid, status: .signaled(SIGKILL)))
        #expect(s.workers[pid] == nil)
        #expect(try redis.llen(prefix + "q") == 10)
        let front = try #require(try redis.send(["LINDEX", RedisArg(prefix + "q"), "-1"]).bytes)
        #expect(JobEnvelope.decode(front).attemptsMade == 1)
        #expect(log.lines.contains { $0.contains("Worker 'worker-q-1' encerrado (pid \(pid), signal 9 (SIGKILL)). Total de q: 0") })
        s.poll()
        #expect(launcher.launched.count == 1, "no restart within the 1 s backoff")
    }

    @Test("TERM drains every worker with SIGTERM; a second TERM SIGKILLs them; their exits empty the table")
    func secondTerm() throws {
        let s = try supervisor()
        try push(100)
        s.poll()
        let pids = Set(launcher.launched.map(\.pid))
        #expect(pids.count == 2)
        s.handle(.signal(SIGTERM))
        #expect(launcher.signalled(SIGTERM) == pids && s.isDraining)
        s.handle(.signal(SIGTERM))
        #expect(launcher.signalled(SIGKILL) == pids)
        for pid in pids { s.handle(.workerExited(pid: pid, status: .signaled(SIGKILL))) }
        #expect(s.workers.isEmpty)
    }

    @Test("past --drain-timeout, the next drain tick SIGKILLs the workers still running")
    func drainDeadline() throws {
        let s = try supervisor()
        try push(60)
        s.poll()
        let pids = Set(launcher.launched.map(\.pid))
        s.handle(.signal(SIGTERM))
        s.drainTick()
        #expect(launcher.signalled(SIGKILL).isEmpty, "not before the deadline")
        usleep(150_000)
        s.drainTick()
        #expect(launcher.signalled(SIGKILL) == pids)
        #expect(log.lines.contains(LogEvents.workerKilled))
    }

    @Test("recovery after an outage spares our own live workers whose heartbeats expired, and requeues a dead owner's list")
    func recoverySparesOurWorkers() throws {
        let s = try supervisor()
        try push(10)
        s.poll()
        let (pid, _) = try #require(launcher.launched.first)
        let redis = try TestEnv.connect()
        let keys = QueueKeys(prefix: prefix, queue: "q")
        // Ours is busy with a job, but Redis was down longer than the heartbeat TTL: no heartbeat.
        let ours = QueueKeys.workerID(queue: "q", slot: 1, host: WallClock.hostName(), pid: pid)
        _ = try redis.send(["LMOVE", RedisArg(keys.pending), RedisArg(keys.processing(ours)), "RIGHT", "LEFT"])
        _ = try redis.send(["DEL", RedisArg(keys.heartbeat(ours))])
        // A worker of nobody's, gone for good.
        _ = try redis.send(["LMOVE", RedisArg(keys.pending), RedisArg(keys.processing("gone-1")), "RIGHT", "LEFT"])
        s.recoverAbandoned(reason: "test")
        #expect(try redis.llen(keys.processing(ours)) == 1, "our live worker keeps its job: it would run twice")
        #expect(try redis.llen(keys.processing("gone-1")) == 0)
        #expect(try redis.llen(keys.pending) == 9)
    }

    @Test("the fence watchdog never signals a pid its launcher does not own: a live process under a fake launcher's pid outlives the lease deadline")
    func fenceSignalsOnlyOwnedProcesses() throws {
        // A process of the test's own making, but not its child (the shell's): what a reused pid looks like to us.
        let dir = TestEnv.scratch("fence")
        let shell = try Launched("/bin/sh", ["-c", "sleep 60 & echo $!; wait"], outputPath: "\(dir)/out")
        defer { shell.killGroup() }  // the shell and its sleep: nothing else
        var stranger: Int32 = 0
        #expect(waitUntil { stranger = Int32(shell.output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0; return stranger > 0 })
        launcher.nextPID = stranger - 1
        let s = try supervisor { $0.values[.leaseTTL] = "3s" }
        try push(10)
        s.poll()
        #expect(launcher.launched.first?.pid == stranger)
        #expect(s.leases.leaseClock.killAt != nil)
        // No renewal follows: the deadline (2.25 s after this one) passes.
        #expect(holds(for: .seconds(4)) { ProcessTree.entry(stranger).map { !$0.isZombie } ?? false }, "the watchdog signalled a pid it did not start")
        #expect(s.leases.watchdog.firedCount == 0)
    }

    @Test("after a Redis outage the next recovery waits a full period: another host's live worker whose heartbeat expired meanwhile keeps its job")
    func recoveryWaitsAfterOutage() throws {
        let redis = try PrivateRedis()
        let s = try makeSupervisor(launcher: launcher, logger: log.logger, redisURL: redis.url)
        s.poll()
        redis.stop()
        s.poll()
        #expect(log.lines.contains("redis.down"), "an idle host renews every 5 s, but its poll's reads find Redis down")
        try redis.start()
        // While Redis was down, another host's busy worker could not refresh its heartbeat; it is
        // about to write it again. A recovery due right now must not take its job.
        let keys = QueueKeys(prefix: "fila:", queue: "q")
        let other = RedisConnection(endpoint: RedisEndpoint(host: "127.0.0.1", port: redis.port))
        try other.connect()
        _ = try other.send(["RPUSH", RedisArg(keys.processing("q-1-elsewhere-42")), "job-1"])
        s.orphans.recoveryTimer.reset()
        #expect(waitUntil { s.poll(); return log.lines.contains("redis.up") }, "log: \(log.lines)")
        #expect(try other.llen(keys.processing("q-1-elsewhere-42")) == 1, "taken from a live worker: it would run twice")
        redis.stop()
    }
}
