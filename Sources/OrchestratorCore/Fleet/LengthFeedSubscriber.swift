import Foundation
import Synchronization

/// The length feed's pub/sub connection, on a thread of its own (a subscribed connection can do
/// nothing else, and its reads block): it SUBSCRIBEs the feed's channel and, while its host leads
/// with keyspace notifications, the `__keyspace@<db>__:<key>` channels of the watched keys, and
/// posts what arrives into the supervisor's `EventInbox`. It reconnects by itself after a drop
/// (`lost`, then `subscribed`). `stop()` ends the thread within `slice`.
public final class LengthFeedSubscriber: Sendable {
    public let channel: String
    private let endpoint: RedisEndpoint
    private let inbox: EventInbox
    /// Keyspace channels wanted now (set by the supervisor), and whether to stop.
    private let wanted = Mutex<Set<String>>([])
    private let stopped = Atomic<Bool>(false)
    /// Longest blocking read: the wanted channels and the stop flag are looked at this often.
    static let slice: Duration = .milliseconds(100)

    public init(endpoint: RedisEndpoint, channel: String, inbox: EventInbox) {
        self.endpoint = endpoint
        self.channel = channel
        self.inbox = inbox
        let thread = Thread { [self] in loop() }
        thread.name = "length-feed"
        thread.start()
    }

    /// The keyspace channels to be subscribed to (empty: none; not the leader, or no notifications).
    public func watch(_ channels: Set<String>) { wanted.withLock { $0 = channels } }

    public func stop() { stopped.store(true, ordering: .relaxed) }

    /// `__keyspace@<db>__:` followed by the key.
    public static func keyspacePrefix(db: Int) -> String { "__keyspace@\(db)__:" }

    private func loop() {
        let connection = RedisConnection(endpoint: endpoint, connectTimeout: .seconds(2), commandTimeout: .seconds(5))
        var subscribed: Set<String> = []
        var unconfirmed = 0  // keyspace channels asked for whose confirmation has not come yet
        var wasConnected = false
        let keyspace = Self.keyspacePrefix(db: endpoint.db)
        while !stopped.load(ordering: .relaxed) {
            do throws(RedisError) {
                if !connection.isConnected {
                    subscribed = []
                    unconfirmed = 0
                    try connection.connect()
                    try connection.sendWithoutReply([["SUBSCRIBE", RedisArg(channel)]])
                    wasConnected = true
                    inbox.post(.lengthFeed(.subscribed))
                }
                let want = wanted.withLock { $0 }
                let add = want.subtracting(subscribed), drop = subscribed.subtracting(want)
                var commands: [[RedisArg]] = []
                if !add.isEmpty { commands.append(["SUBSCRIBE"] + add.sorted().map { RedisArg($0) }) }
                unconfirmed += add.count
                if !drop.isEmpty { commands.append(["UNSUBSCRIBE"] + drop.sorted().map { RedisArg($0) }) }
                if !commands.isEmpty { try connection.sendWithoutReply(commands) }
                subscribed = want
                while let reply = try connection.nextPushed(timeout: Self.slice) {
                    forward(reply, keyspace: keyspace, unconfirmed: &unconfirmed)
                    if stopped.load(ordering: .relaxed) { break }
                }
            } catch {
                connection.close()
                if wasConnected { inbox.post(.lengthFeed(.lost("\(error)"))) }
                wasConnected = false
                for _ in 0..<5 where !stopped.load(ordering: .relaxed) { Thread.sleep(forTimeInterval: Self.slice.seconds) }
            }
        }
        connection.close()
    }

    /// Posts what one pushed reply says: a feed message, a keyspace notification, or (once the
    /// server has confirmed every keyspace channel asked for) `keyspaceSubscribed`.
    private func forward(_ reply: RedisReply, keyspace: String, unconfirmed: inout Int) {
        guard case .array(let items) = reply, items.count == 3, let from = items[1].text else { return }
        if items[0].text == "subscribe", from.hasPrefix(keyspace), unconfirmed > 0 {
            unconfirmed -= 1
            if unconfirmed == 0 { inbox.post(.lengthFeed(.keyspaceSubscribed)) }
            return
        }
        guard items[0].text == "message", let payload = items[2].text else { return }
        if from == channel {
            if let message = LengthFeedMessage(decoding: payload) { inbox.post(.lengthFeed(.message(message))) }
        } else if from.hasPrefix(keyspace) {
            inbox.post(.lengthFeed(.touched(String(from.dropFirst(keyspace.count)))))
        }
    }
}
