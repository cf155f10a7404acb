import Foundation
@testable import OrchestratorCore
import Testing
import TestSupport

/// The length feed's subscriber thread against a real redis-server: what it tells the supervisor
/// about its subscriptions.
@Suite("length feed subscriber: subscriptions confirmed by the server", .requiresRedis)
struct LengthFeedSubscriberTests {
    @Test("keyspaceSubscribed comes once, after the server holds every keyspace channel asked for (the leader's snapshot then sees any push before them)")
    func keyspaceConfirmed() throws {
        let prefix = TestEnv.uniquePrefix("lfs")
        let head = LengthFeedSubscriber.keyspacePrefix(db: TestEnv.db)
        let channels: Set<String> = [head + prefix + "q1", head + prefix + "q2", head + prefix + "q3"]
        let inbox = EventInbox()
        let subscriber = LengthFeedSubscriber(endpoint: TestEnv.endpoint, channel: prefix + "feed", inbox: inbox)
        defer { subscriber.stop() }
        var seen: [LengthFeedEvent] = []
        let collect = {
            for case .lengthFeed(let e) in inbox.take(waitingFor: .milliseconds(50)) { seen.append(e) }
        }
        #expect(waitUntil(timeout: .seconds(10)) { collect(); return seen.contains(.subscribed) })
        subscriber.watch(channels)
        let c = try TestEnv.connect()
        var heldWhenConfirmed: [Int] = []
        #expect(waitUntil(timeout: .seconds(10)) {
            collect()
            guard seen.contains(.keyspaceSubscribed) else { return false }
            let reply = (try? c.send(["PUBSUB", "NUMSUB"] + channels.sorted().map { RedisArg($0) }).array) ?? []
            heldWhenConfirmed = stride(from: 1, to: reply.count, by: 2).compactMap { reply[$0].int }
            return true
        }, "events: \(seen)")
        #expect(heldWhenConfirmed == [1, 1, 1], "every channel subscribed on the server once confirmed: \(heldWhenConfirmed)")
        collect()
        #expect(seen.filter { $0 == .keyspaceSubscribed }.count == 1, "one event for the three channels: \(seen)")
    }
}
