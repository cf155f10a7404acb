@testable import OrchestratorCore
import Testing

@Suite("the length feed: its message format, the flags it needs, its liveness (pure)")
struct LengthFeedMessageTests {
    @Test("a message with odd queue names (tab, newline, %, spaces, UTF-8) survives encoding")
    func roundTrip() {
        let m = LengthFeedMessage(isFull: true, lengths: ["a\tb": 3, "x\ny": 0, "100%": 7, "fila de notas é": 42],
                                  errors: ["bad": "WRONGTYPE Operation against a key\tholding"], paused: ["a\tb", "p q"])
        #expect(LengthFeedMessage(decoding: m.encoded) == m)
        let delta = LengthFeedMessage(isFull: false, lengths: ["q": 1])
        #expect(LengthFeedMessage(decoding: delta.encoded) == delta)
        #expect(LengthFeedMessage(decoding: "hello") == nil)
        #expect(LengthFeedMessage(decoding: "full\nq\tq1\tnot-a-number") == nil)
    }

    @Test("notify-keyspace-events: only the missing flags are added (K, l, g, s; A covers l, g, s)")
    func missingFlags() {
        #expect(KeyspaceFlags.missing(in: "") == "Klgs")
        #expect(KeyspaceFlags.missing(in: "Ex") == "Klgs")
        #expect(KeyspaceFlags.missing(in: "KEA") == "")
        #expect(KeyspaceFlags.missing(in: "Kl") == "gs")
        #expect(KeyspaceFlags.missing(in: "glsK") == "")
        #expect(KeyspaceFlags.missing(in: "EA") == "K")
    }

    @Test("the feed is live only subscribed, after a full snapshot, within its liveness; a resubscription waits for a new snapshot")
    func liveness() {
        let t0 = ContinuousClock().now
        var feed = LengthFeed()
        #expect(feed.receive(LengthFeedMessage(isFull: false, lengths: ["q": 5]), now: t0).isEmpty)  // a delta before any snapshot is ignored
        feed.subscribed()
        #expect(!feed.isLive(now: t0))
        #expect(Set(feed.receive(LengthFeedMessage(isFull: true, lengths: ["q": 5, "r": 0], paused: []), now: t0)) == ["q", "r"])
        #expect(feed.isLive(now: t0 + .seconds(1)) && feed.covers("q") && !feed.covers("z"))
        #expect(!feed.isLive(now: t0 + LengthFeed.liveness))
        #expect(feed.receive(LengthFeedMessage(isFull: false, lengths: ["q": 9]), now: t0 + .seconds(2)) == ["q"])
        #expect(feed.lengths["q"] == 9)
        feed.lost("connection reset")
        #expect(!feed.isLive(now: t0 + .seconds(2)))
        feed.subscribed()
        #expect(!feed.isLive(now: t0 + .seconds(2)))
        _ = feed.receive(LengthFeedMessage(isFull: true, lengths: ["q": 1], paused: ["q"]), now: t0 + .seconds(3))
        #expect(feed.isLive(now: t0 + .seconds(3)) && feed.paused == ["q"])
    }
}
