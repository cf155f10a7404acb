/// What one run of a handler produced.
public struct HandlerOutcome: Sendable, Equatable {
    public enum Status: String, Sendable, Codable { case ok, failed }
    public var status: Status
    /// stdout (exec mode) or the `output` field (persistent mode), capped.
    public var output: [UInt8]
    public var outputTruncated: Bool
    /// A persistent handler answered a non-string `output`: the result record embeds this JSON
    /// value (and `output` is empty).
    public var outputJSON: JSONValue?
    /// Why it failed (stderr tail, exit status, timeout); nil on success.
    public var error: String?
    /// True when the handler had to be killed (timeout), for logs.
    public var timedOut: Bool

    public init(status: Status, output: [UInt8] = [], outputTruncated: Bool = false, outputJSON: JSONValue? = nil,
                error: String? = nil, timedOut: Bool = false) {
        self.status = status
        self.output = output
        self.outputTruncated = outputTruncated
        self.outputJSON = outputJSON
        self.error = error
        self.timedOut = timedOut
    }

    /// The output as the result record stores it.
    public var recordOutput: RecordOutput { outputJSON.map(RecordOutput.json) ?? .bytes(output) }

    public static func failure(_ message: String, timedOut: Bool = false) -> HandlerOutcome {
        HandlerOutcome(status: .failed, error: message, timedOut: timedOut)
    }
}

/// Runs one job in a handler. `tick` is called about once a second while the job runs
/// (heartbeat, parent check); it never blocks for long.
public protocol JobRunner: AnyObject {
    func run(job: ClaimedJob, queue: String, deadline: ContinuousClock.Instant, tick: () -> Void) -> HandlerOutcome
    /// Stops any long-lived handler (persistent mode), gently then by force.
    func shutdown()
    /// The handler process running now (its process group id), published in the heartbeat so the
    /// orchestrator can kill the group if this worker dies.
    var activePID: Int32? { get }
    /// Where each line the handler writes to stderr goes (the worker logs it with the job id).
    var stderrLine: ((String) -> Void)? { get set }
    /// Called on every pass of the worker's idle loop: drain what a long-lived handler printed.
    func idle()
}

extension JobRunner {
    public func idle() {}
}

/// Limits on what a handler may print.
public enum HandlerLimits {
    /// stdout kept as `output`; the rest is read and discarded.
    public static let outputCap = 1 << 20
    /// The end of stderr kept as `error`.
    public static let stderrTail = 4096
    /// A persistent handler's answer line may not exceed this.
    public static let answerCap = 16 << 20
}
