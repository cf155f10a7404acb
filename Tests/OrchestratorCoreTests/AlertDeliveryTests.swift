@testable import OrchestratorCore
import Logging
import Testing

@Suite("AlertDelivery: notifications become PUBLISH and the active set, written only when it changed (no Redis)")
struct AlertDeliveryTests {
    func words(_ commands: [[RedisArg]]) -> [String] {
        commands.map { String(decoding: $0.first?.bytes ?? [], as: UTF8.self) }
    }

    @Test("redis_down fires after its delay: PUBLISH, DEL, HSET; resolving publishes and clears the set; the set is rewritten until confirmed written")
    func deliveries() throws {
        var flags = OrchestratorSettings.Flags()
        flags.queues = ["q"]
        flags.handlers = ["q=cat"]
        let settings = try OrchestratorSettings.resolve(flags, OptionResolver(environment: [:]), defaultWorkerPath: "/bin/true")
        let delivery = AlertDelivery(settings: settings, host: "h", logger: Logger(label: "t") { _ in SwiftLogNoOpLogHandler() }, environment: [:])
        var events = EventLog(prefix: "p:", maxLength: 100, host: "h")
        let t0 = ContinuousClock().now
        #expect(delivery.evaluate(now: t0, redisReadable: false, queues: [], events: &events).isEmpty)
        let fired = delivery.evaluate(now: t0 + settings.alerts.redisDownFor, redisReadable: false, queues: [], events: &events)
        #expect(words(fired) == ["PUBLISH", "DEL", "HSET"])
        delivery.written()
        let later = t0 + settings.alerts.redisDownFor + .seconds(2)
        #expect(words(delivery.evaluate(now: later, redisReadable: true, queues: [], events: &events)) == ["PUBLISH", "DEL"])
        // Not confirmed written (Redis failed): the empty set is written again next poll, then no more.
        #expect(words(delivery.evaluate(now: later + .seconds(1), redisReadable: true, queues: [], events: &events)) == ["DEL"])
        delivery.written()
        #expect(delivery.evaluate(now: later + .seconds(2), redisReadable: true, queues: [], events: &events).isEmpty)
    }
}
