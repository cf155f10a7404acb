import Logging

/// How log lines look (both executables).
public struct LogSettings: Sendable, Equatable {
    public enum Format: String, Sendable { case text, json }
    public enum TimeStyle: String, Sendable { case clock, iso }
    public enum Destination: String, Sendable { case stderr, file, both }

    public var format: Format = .text
    public var time: TimeStyle = .clock
    public var level: Logger.Level = .info
    /// Orchestrator only (a worker's stderr is its log file).
    public var destination: Destination = .both

    public init() {}

    public static func resolve(_ values: OptionValues, _ r: OptionResolver) throws(ConfigError) -> LogSettings {
        var s = LogSettings()
        s.format = try choice(values, .logFormat, r)
        s.time = try choice(values, .logTime, r)
        s.destination = try choice(values, .logTo, r)
        let (text, source) = try r.required(values, .logLevel)
        let levels: [String: Logger.Level] = ["trace": .trace, "debug": .debug, "info": .info, "notice": .notice, "warning": .warning,
                                              "error": .error, "critical": .critical]
        guard let level = levels[text.trimmingSpaces.lowercased()] else {
            throw ConfigError(flag: source, message: "expected debug, info, warning, error or critical, got '\(text)'")
        }
        s.level = level
        return s
    }

    static func choice<T: RawRepresentable & CaseIterable>(_ values: OptionValues, _ spec: OptionSpec, _ r: OptionResolver) throws(ConfigError) -> T
    where T.RawValue == String {
        let (text, source) = try r.required(values, spec)
        guard let value = T(rawValue: text.trimmingSpaces.lowercased()) else {
            throw ConfigError(flag: source, message: "expected \(T.allCases.map(\.rawValue).joined(separator: " or ")), got '\(text)'")
        }
        return value
    }
}

extension LogSettings.Format: CaseIterable {}
extension LogSettings.TimeStyle: CaseIterable {}
extension LogSettings.Destination: CaseIterable {}
