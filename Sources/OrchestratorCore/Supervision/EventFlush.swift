import Logging

extension EventLog {
    /// Writes the buffered events in one pipelined round trip (a key of the wrong type is
    /// reported through `keyFaults`); on failure they stay buffered.
    mutating func flush(link: RedisLink, keyFaults: inout KeyFaults, logger: Logger) {
        guard !buffer.isEmpty else { return }
        if dropped > 0 {
            logger.warning("events.dropped", metadata: ["count": "\(dropped)", "why": "Redis was unreachable longer than the buffer holds"])
        }
        let commands = self.commands
        if keyFaults.pipeline(commands, on: link, skipped: "events not written", logger: logger) != nil { flushed(commands.count) }
    }
}
