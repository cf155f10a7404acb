import Foundation

/// Timestamps for records and heartbeats.
public enum WallClock {
    public static func nowMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// ISO 8601 in UTC with milliseconds: `2026-11-29T22:46:59.123Z`.
    public static func iso8601(milliseconds ms: Int64) -> String {
        var t = time_t(ms / 1000)
        var parts = tm()
        gmtime_r(&t, &parts)
        var out = [UInt8]()
        out.reserveCapacity(24)
        digits(Int(parts.tm_year) + 1900, 4, &out); out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mon) + 1, 2, &out); out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mday), 2, &out); out.append(UInt8(ascii: "T"))
        digits(Int(parts.tm_hour), 2, &out); out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_min), 2, &out); out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_sec), 2, &out); out.append(UInt8(ascii: "."))
        digits(Int(((ms % 1000) + 1000) % 1000), 3, &out); out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `value` in decimal, zero-padded to `width` (String(format:) costs a worker ~10 % of its CPU per job).
    static func digits(_ value: Int, _ width: Int, _ out: inout [UInt8]) {
        var v = max(0, value)
        var buf = [UInt8](repeating: UInt8(ascii: "0"), count: max(width, 1))
        var i = buf.count - 1
        while v > 0 && i >= 0 {
            buf[i] = UInt8(ascii: "0") + UInt8(v % 10)
            v /= 10
            i -= 1
        }
        if v > 0 { out += Array(String(value).utf8); return }
        out += buf
    }

    public static func hostName() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        gethostname(&buf, buf.count - 1)
        let name = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }
}

extension WallClock {
    /// `10m` ago, or an ISO 8601 UTC time (`2026-11-30T10:00`, seconds and `Z` optional), in ms.
    public static func sinceMilliseconds(_ text: String, now: Int64) -> Int64? {
        if let d = parseDuration(text) { return now - d.milliseconds }
        let formats = ["yyyy-MM-dd'T'HH:mm:ss.SSSX", "yyyy-MM-dd'T'HH:mm:ssX", "yyyy-MM-dd'T'HH:mmX", "yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd'T'HH:mm"]
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        for format in formats {
            f.dateFormat = format
            if let date = f.date(from: text) { return Int64(date.timeIntervalSince1970 * 1000) }
        }
        return nil
    }
}
