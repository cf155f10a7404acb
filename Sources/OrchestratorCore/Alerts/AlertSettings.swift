/// Thresholds (flags), and the rules turned off.
public struct AlertSettings: Sendable, Equatable {
    public var capReachedFor: Duration = .seconds(300)
    public var crashLoopCount = 5
    public var crashLoopWindow: Duration = .seconds(60)
    public var redisDownFor: Duration = .seconds(30)
    public var deadLettersWindow: Duration = .seconds(600)
    public var stuckFraction = 0.8
    public var noProgressFor: Duration = .seconds(300)
    public var memoryFraction = 0.9
    public var memoryPolls = 2
    /// An active alert is notified again this often; a flapping one no more than once per interval.
    public var repeatEvery: Duration = .seconds(1800)
    public var disabled: Set<AlertRule> = []
    public init() {}
}
