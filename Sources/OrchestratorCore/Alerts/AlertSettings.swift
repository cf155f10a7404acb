/// Thresholds (flags), and the rules turned off. The defaults are the options' (`OptionSpec`).
public struct AlertSettings: Sendable, Equatable {
    public var capReachedFor = OptionSpec.alertCapFor.defaultDuration
    public var crashLoopCount = OptionSpec.alertCrashLoop.defaultRate.count
    public var crashLoopWindow = OptionSpec.alertCrashLoop.defaultRate.window
    public var redisDownFor = OptionSpec.alertRedisDownFor.defaultDuration
    public var deadLettersWindow = OptionSpec.alertDeadWindow.defaultDuration
    public var stuckFraction = OptionSpec.alertStuckAt.defaultFraction
    public var noProgressFor = OptionSpec.alertNoProgressFor.defaultDuration
    public var memoryFraction = OptionSpec.alertMemoryAt.defaultFraction
    /// Polls a worker must stay above `memoryFraction` (not an option).
    public var memoryPolls = 2
    /// An active alert is notified again this often; a flapping one no more than once per interval.
    public var repeatEvery = OptionSpec.alertRepeat.defaultDuration
    public var disabled: Set<AlertRule> = []
    public init() {}
}
