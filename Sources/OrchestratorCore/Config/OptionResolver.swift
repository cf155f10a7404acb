import Foundation

/// A flag or environment value that does not parse; the message names the flag (exit 64).
public struct ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    public let flag: String
    public let message: String
    public init(flag: String, message: String) {
        self.flag = flag
        self.message = message
    }
    public var description: String { "\(flag): \(message)" }
}

/// Resolves each option as flag, else environment variable, else default; parses and checks it,
/// naming both the flag and the variable in errors.
public struct OptionResolver: Sendable {
    public let environment: [String: String]

    public init(environment: [String: String]) { self.environment = environment }

    /// The value of `spec`: given on the command line, else its environment variable, else its
    /// default; with where it came from, for messages.
    public func raw(_ values: OptionValues, _ spec: OptionSpec) -> (text: String, source: String)? {
        if let given = raw(values[spec], flag: spec.flag, env: spec.env) { return (given.0, given.1) }
        return spec.defaultValue.map { ($0, "\(spec.flag) (default)") }
    }

    /// True when the option was given, as a flag or through its environment variable.
    public func isGiven(_ values: OptionValues, _ spec: OptionSpec) -> Bool { raw(values[spec], flag: spec.flag, env: spec.env) != nil }

    public func string(_ values: OptionValues, _ spec: OptionSpec) -> String? { raw(values, spec)?.text }

    /// An int option checked against `range` (prefer `int(_:_:)`, which takes the spec's own).
    public func int(_ values: OptionValues, _ spec: OptionSpec, range: ClosedRange<Int>) throws(ConfigError) -> Int {
        guard let (text, source) = raw(values, spec) else { throw ConfigError(flag: spec.flag, message: "a value is required") }
        return try int(text, source: source, range: range)
    }


    /// An `.int` option, checked against its spec's range.
    public func int(_ values: OptionValues, _ spec: OptionSpec) throws(ConfigError) -> Int {
        guard case .int(let range) = spec.type else { return try int(values, spec, range: Int.min...Int.max) }
        return try int(values, spec, range: range)
    }

    /// A `.duration` option, checked against its spec's bounds.
    public func duration(_ values: OptionValues, _ spec: OptionSpec) throws(ConfigError) -> Duration {
        let (text, source) = try required(values, spec)
        guard case .duration(let minimum, let maximum) = spec.type else { return try duration(text, source: source) }
        guard let maximum else { return try duration(text, source: source, minimum: minimum) }
        let d = try duration(text, source: source)
        guard d >= minimum && d <= maximum else {
            throw ConfigError(flag: source, message: "must be between \(formatBound(minimum)) and \(formatBound(maximum)), got '\(text)'")
        }
        return d
    }

    /// A `.durationOrOff` option: nil for `off`.
    public func durationOrOff(_ values: OptionValues, _ spec: OptionSpec) throws(ConfigError) -> Duration? {
        let (text, source) = try required(values, spec)
        if text.trimmingSpaces.lowercased() == "off" { return nil }
        let d = try duration(text, source: source)
        if case .durationOrOff(let minimum, let maximum) = spec.type, d < minimum || d > maximum {
            throw ConfigError(flag: source, message: "must be between \(formatBound(minimum)) and \(formatBound(maximum)) (or off), got '\(text)'")
        }
        return d
    }

    /// A `.percent` option (`80%` or `80`), as a fraction.
    public func fraction(_ values: OptionValues, _ spec: OptionSpec) throws(ConfigError) -> Double {
        let (text, source) = try required(values, spec)
        let range = if case .percent(let r) = spec.type { r } else { 0...100 }
        var t = text.trimmingSpaces
        if t.hasSuffix("%") { t.removeLast() }
        guard let p = Double(t), p >= Double(range.lowerBound), p <= Double(range.upperBound) else {
            throw ConfigError(flag: source, message: "expected a percentage between \(range.lowerBound)% and \(range.upperBound)%, got '\(text)'")
        }
        return p / 100
    }

    /// A `.rate` option, `N/duration`: the count and the window, each in its range.
    public func rate(_ values: OptionValues, _ spec: OptionSpec) throws(ConfigError) -> (count: Int, window: Duration) {
        let (text, source) = try required(values, spec)
        guard case .rate(let counts, let windows) = spec.type else { throw ConfigError(flag: source, message: "not a rate option") }
        let parts = text.trimmingSpaces.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw ConfigError(flag: source, message: "expected crashes/window like \(spec.defaultValue ?? "5/1m"), got '\(text)'")
        }
        let count = try int(String(parts[0]), source: source, range: counts)
        let window = try duration(String(parts[1]), source: source, minimum: windows.lowerBound)
        guard window <= windows.upperBound else {
            throw ConfigError(flag: source, message: "the window must be at most \(formatBound(windows.upperBound)), got '\(parts[1])'")
        }
        return (count, window)
    }

    /// The value of `spec` (given, else from its variable, else its default) and where it came from;
    /// "a value is required" when there is none.
    public func required(_ values: OptionValues, _ spec: OptionSpec) throws(ConfigError) -> (text: String, source: String) {
        guard let given = raw(values, spec) else { throw ConfigError(flag: spec.flag, message: "a value is required") }
        return given
    }

    /// The raw value and where it came from, for messages.
    public func raw(_ value: String?, flag: String, env: String) -> (String, String)? {
        if let value { return (value, flag) }
        if let v = environment[env] { return (v, "\(flag) (from \(env))") }
        return nil
    }

    func int(_ text: String, source: String, range: ClosedRange<Int>) throws(ConfigError) -> Int {
        guard let n = Int(text.trimmingSpaces) else {
            throw ConfigError(flag: source, message: "expected a whole number, got '\(text)'")
        }
        guard range.contains(n) else {
            throw ConfigError(flag: source, message: "must be between \(range.lowerBound) and \(range.upperBound), got \(n)")
        }
        return n
    }

    func duration(_ text: String, source: String, minimum: Duration = .zero) throws(ConfigError) -> Duration {
        guard let d = parseDuration(text) else {
            throw ConfigError(flag: source, message: "expected a duration like 2, 0.5, 500ms, 30s or 5m, got '\(text)'")
        }
        guard d >= minimum else {
            throw ConfigError(flag: source, message: "must be at least \(formatDuration(minimum)), got '\(text)'")
        }
        return d
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}

/// `2`, `0.5` (seconds), `500ms`, `30s`, `5m`, `1h`, `7d`. Nil for anything else, negatives included.
public func parseDuration(_ text: String) -> Duration? {
    let s = text.trimmingSpaces.lowercased()
    let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
    var number = s
    var scale = 1.0
    for (suffix, factor) in units where s.hasSuffix(suffix) {
        number = String(s.dropLast(suffix.count))
        scale = factor
        break
    }
    guard !number.isEmpty, number.allSatisfy({ $0.isNumber || $0 == "." }),
          let value = Double(number), value.isFinite, value >= 0, value * scale <= 31_536_000 else { return nil }
    return .milliseconds(Int64((value * scale * 1000).rounded()))
}

/// `1.5s`, `500ms`, `2m`.
public func formatDuration(_ d: Duration) -> String {
    let ms = d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
    if ms % 60_000 == 0 && ms >= 60_000 { return "\(ms / 60_000)m" }
    if ms % 1000 == 0 { return "\(ms / 1000)s" }
    if ms < 1000 { return "\(ms)ms" }
    return String(format: "%.1fs", Double(ms) / 1000)
}

extension Duration {
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    public var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
