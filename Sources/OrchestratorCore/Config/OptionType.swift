/// What an option's value is, and the range it must lie in. `OptionResolver` parses and checks a
/// value (the default included) by it, so a range is written once, beside the flag.
public enum OptionType: Sendable, Hashable {
    /// Free text (a URL, a path, a command, a list checked by its reader).
    case text
    /// One of the spec's `choices`.
    case choice
    /// A whole number in the range.
    case int(ClosedRange<Int>)
    /// `2`, `0.5`, `500ms`, `30s`, `5m`, `1h`, `7d`, at least `minimum` (and at most `maximum`).
    case duration(minimum: Duration = .zero, maximum: Duration? = nil)
    /// A duration in the range, or `off` (nil).
    case durationOrOff(minimum: Duration, maximum: Duration)
    /// `80%` or `80`: a share in the range (in percent), read as a fraction.
    case percent(ClosedRange<Int>)
    /// `N/duration`: N events (in the first range) within a window (in the second).
    case rate(ClosedRange<Int>, per: ClosedRange<Duration>)
}

extension OptionSpec {
    private static let defaults = OptionResolver(environment: [:])

    /// The default of an `.int` option, parsed by the same rules as a given value.
    public var defaultInt: Int { parsedDefault { () throws(ConfigError) in try Self.defaults.int(OptionValues(), self) } }
    /// The default of a `.duration` option.
    public var defaultDuration: Duration { parsedDefault { () throws(ConfigError) in try Self.defaults.duration(OptionValues(), self) } }
    /// The default of a `.durationOrOff` option (nil: off).
    public var defaultDurationOrOff: Duration? { parsedDefault { () throws(ConfigError) in try Self.defaults.durationOrOff(OptionValues(), self) } }
    /// The default of a `.percent` option, as a fraction.
    public var defaultFraction: Double { parsedDefault { () throws(ConfigError) in try Self.defaults.fraction(OptionValues(), self) } }
    /// The default of a `.rate` option.
    public var defaultRate: (count: Int, window: Duration) { parsedDefault { () throws(ConfigError) in try Self.defaults.rate(OptionValues(), self) } }

    /// A default that does not parse is a mistake in this file (OptionDeclarationTests parse
    /// every one), not bad input.
    private func parsedDefault<T>(_ parse: () throws(ConfigError) -> T) -> T {
        do { return try parse() } catch { fatalError("the default of \(flag) does not parse: \(error)") }
    }
}

/// A duration bound as an operator writes it: `1h`, `365d`, `10m`, `3s`.
func formatBound(_ d: Duration) -> String {
    let ms = d.milliseconds
    if ms >= 86_400_000 && ms % 86_400_000 == 0 { return "\(ms / 86_400_000)d" }
    if ms >= 3_600_000 && ms % 3_600_000 == 0 { return "\(ms / 3_600_000)h" }
    return formatDuration(d)
}
