import Dispatch
import Foundation

/// Turns TERM/INT into `.signal` events in the supervisor's inbox. The handler only records; the
/// loop decides (drain, or drain now on the second one).
public enum SignalEvents {
    /// Keep the returned sources alive for as long as signals should be handled.
    public static func forward(_ signals: [Int32], to inbox: EventInbox) -> [DispatchSourceSignal] {
        signals.map { sig in
            // Dispatch needs the default action off. Workers reinstall their own handlers, so
            // the inherited SIG_IGN does not reach them or their handlers.
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            // Dispatch coalesces signals that arrive together: `data` says how many there were,
            // and a second TERM must still mean "drain now".
            source.setEventHandler { for _ in 0..<max(1, source.data) { inbox.post(.signal(sig)) } }
            source.resume()
            return source
        }
    }

    /// Stops forwarding: the sources are cancelled (the signals stay ignored, so one arriving
    /// while the process ends changes nothing). Call once the loop that reads the inbox is over.
    public static func stop(_ sources: [DispatchSourceSignal]) {
        for source in sources { source.cancel() }
    }
}
