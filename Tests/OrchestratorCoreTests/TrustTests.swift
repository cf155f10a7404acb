@testable import Dashboard
import Foundation
import OrchestratorCore
import Testing

@Suite("trust: secrets kept from children, refusals rate-limited, hosts told apart (pure)")
struct TrustTests {
    @Test("a child's environment has none of our secrets; the operator's own variables stay")
    func withoutSecrets() {
        let env = ["HTTP_TOKEN": "tok", "HTTP_TOKEN_FILE": "/run/tok", "REDIS_PASSWORD": "pw", "REDIS_URL": "redis://:pw@h:1/0",
                   "RPA_USER": "u", "RPA_PASSWORD": "rp", "RPA_SECRETS_ON_STDIN": "1", "PATH": "/bin"]
        #expect(ChildEnvironment.withoutSecrets(env) == ["RPA_USER": "u", "RPA_PASSWORD": "rp", "PATH": "/bin"])
        #expect(ChildEnvironment.withoutSecrets(["REDIS_URL": "redis://h:1/0"]) == ["REDIS_URL": "redis://h:1/0"], "no password: kept")
        #expect(ChildEnvironment.withoutSecrets(["REDIS_URL": "http://x:y@h"]) == [:], "a URL that does not parse counts as secret")
    }

    @Test("a standalone worker's secrets move from its environment to one stdin line (percent-encoded)")
    func handoff() throws {
        let h = try #require(ChildEnvironment.handoff(["REDIS_URL": "redis://robot:p%40ss@h:1/2", "HTTP_TOKEN": "tok", "RPA_USER": "u"]))
        #expect(h.environment == ["REDIS_URL": "redis://robot@h:1/2", "RPA_USER": "u", "RPA_SECRETS_ON_STDIN": "1"])
        #expect(h.stdinLine == "p%40ss\n")
        let p = try #require(ChildEnvironment.handoff(["REDIS_PASSWORD": "a b\nc"]))
        #expect(p.environment == ["RPA_SECRETS_ON_STDIN": "1"] && p.stdinLine == "a%20b%0Ac\n")
        #expect(ChildEnvironment.handoff(["REDIS_URL": "redis://h:1/0", "RPA_PASSWORD": "x"]) == nil, "nothing to hide: no re-exec")
        #expect(ChildEnvironment.handoff(["REDIS_PASSWORD": "pw", "RPA_SECRETS_ON_STDIN": "1"]) == nil, "never twice")
    }

    @Test("refusal lines: the first one passes, the next within the interval are held back and counted")
    func rateLimit() {
        var limit = LogRateLimit(interval: .seconds(10))
        let t0 = ContinuousClock().now
        #expect(limit.admit(now: t0) == 0)
        #expect(limit.admit(now: t0 + .seconds(1)) == nil)
        #expect(limit.admit(now: t0 + .seconds(9)) == nil)
        #expect(limit.admit(now: t0 + .seconds(10)) == 2)
        #expect(limit.admit(now: t0 + .seconds(11)) == nil)
        #expect(limit.admit(now: t0 + .seconds(30)) == 1)
    }

    @Test("every event carries the host that wrote it, third after type and ts")
    func eventHost() {
        var log = EventLog(prefix: "fila:", maxLength: 100, host: "alpha")
        log.record("worker_exited", [("queue", "a"), ("slot", "1")], milliseconds: 5)
        #expect(log.buffer.first?.map { "\($0.0)=\($0.1)" } == ["type=worker_exited", "ts=5", "host=alpha", "queue=a", "slot=1"])
    }

    @Test("the default health file names the host and the prefix: two hosts or prefixes never share it")
    func healthFile() {
        let path = { (env: [String: String]) in
            WorkerSettings.healthFile(queue: "q", slot: 1, values: OptionValues(), OptionResolver(environment: env))
        }
        #expect(path(["RPA_HOST_ID": "alpha", "QUEUE_PREFIX": "fila:"]) == "/tmp/rpa-worker-alpha-fila%3A-q-1.alive")
        #expect(path(["RPA_HOST_ID": "beta", "QUEUE_PREFIX": "fila:"]) != path(["RPA_HOST_ID": "alpha", "QUEUE_PREFIX": "fila:"]))
        #expect(path(["RPA_HOST_ID": "alpha", "QUEUE_PREFIX": "a/b:"]) == "/tmp/rpa-worker-alpha-a%2Fb%3A-q-1.alive")
        #expect(path(["QUEUE_PREFIX": "x:"]).hasPrefix("/tmp/rpa-worker-\(PercentEncoding.encode(WallClock.hostName()))-x%3A-"))
        #expect(path(["HEALTH_FILE": "/run/w.alive", "RPA_HOST_ID": "alpha"]) == "/run/w.alive")
    }

    @Test("the page writes names as text and sends them encoded: no HTML parsing of data anywhere in its script")
    func pageEscapes() {
        for sink in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("] {
            #expect(!DashboardPage.script.contains(sink), "\(sink)")
        }
        #expect(DashboardPage.script.contains("/api/queues/${encodeURIComponent(queue)}/${name}"))
        #expect(DashboardPage.script.contains("document.createTextNode"))
    }
}
