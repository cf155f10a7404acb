import Foundation
import Synchronization

/// The latest metrics text, written by the supervisor after each poll and read by the HTTP thread.
public final class MetricsBox: Sendable {
    public typealias Snapshot = (text: String, healthy: Bool, updatedAt: ContinuousClock.Instant?)
    private let latest = Mutex<Snapshot>(("", false, nil))

    public init() {}

    public func update(text: String, healthy: Bool) {
        let now = ContinuousClock().now
        latest.withLock { $0 = (text, healthy, now) }
    }

    /// The latest text, readiness, and when the control loop last published (nil: never).
    public var snapshot: Snapshot { latest.withLock { $0 } }
}

/// Prometheus text exposition, built from the supervisor's state after each poll.
public struct MetricsText {
    private var families: [(name: String, help: String, type: String, samples: [String])] = []

    public init() {}

    public mutating func add(_ name: String, _ type: String, _ help: String, _ samples: [([(String, String)], Double)]) {
        let lines = samples.map { labels, value -> String in
            let l = labels.map { Self.label($0.0, $0.1) }
            let v = value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
            return name + (l.isEmpty ? "" : "{" + l.joined(separator: ",") + "}") + " " + v
        }
        families.append((name, help, type, lines))
    }

    /// A histogram family: `<name>_bucket{…,le}`, `<name>_sum`, `<name>_count` per label set.
    public mutating func addHistogram(_ name: String, _ help: String,
                                      _ series: [(labels: [(String, String)], buckets: [(String, Int)], count: Int, sum: Double)]) {
        var lines: [String] = []
        for s in series {
            let base = s.labels.map { Self.label($0.0, $0.1) }
            for (le, n) in s.buckets { lines.append("\(name)_bucket{" + (base + [Self.label("le", le)]).joined(separator: ",") + "} \(n)") }
            let l = base.isEmpty ? "" : "{" + base.joined(separator: ",") + "}"
            lines.append("\(name)_sum\(l) \(s.sum)")
            lines.append("\(name)_count\(l) \(s.count)")
        }
        families.append((name, help, "histogram", lines))
    }

    /// `name="value"` with the value escaped as the exposition format wants (`\\`, `\"`, `\n`):
    /// the one place every label of every family, histograms included, goes through.
    public static func label(_ name: String, _ value: String) -> String {
        var escaped = ""
        for c in value.unicodeScalars {
            switch c {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.unicodeScalars.append(c)
            }
        }
        return "\(name)=\"\(escaped)\""
    }

    public var text: String {
        families.map { "# HELP \($0.name) \($0.help)\n# TYPE \($0.name) \($0.type)\n" + $0.samples.map { $0 + "\n" }.joined() }.joined()
    }
}
