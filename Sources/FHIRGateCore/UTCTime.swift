#if canImport(Glibc)
import Glibc
#endif

/// UTC timestamps as audit records and rotated file names spell them, without
/// Foundation formatters (slow on Linux, and these run per request).
public enum UTCTime {
    /// `2026-11-29T04:14:49.123Z`.
    public static func iso8601(secondsSince1970 seconds: Double) -> String {
        let (p, ms) = parts(seconds)
        return "\(pad(p.year, 4))-\(pad(p.month, 2))-\(pad(p.day, 2))T\(pad(p.hour, 2)):\(pad(p.minute, 2)):\(pad(p.second, 2)).\(pad(ms, 3))Z"
    }

    /// `20261129T041449Z`.
    public static func compact(secondsSince1970 seconds: Double) -> String {
        let (p, _) = parts(seconds)
        return "\(pad(p.year, 4))\(pad(p.month, 2))\(pad(p.day, 2))T\(pad(p.hour, 2))\(pad(p.minute, 2))\(pad(p.second, 2))Z"
    }

    static func parts(_ seconds: Double) -> ((year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int), Int) {
        // Whole milliseconds first, so 0.123 does not print as .122.
        let totalMilliseconds = Int64((seconds * 1000).rounded())
        var t = time_t(totalMilliseconds / 1000)
        var tm = tm()
        gmtime_r(&t, &tm)
        let ms = Int(totalMilliseconds % 1000)
        return ((Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday), Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec)), ms)
    }

    static func pad(_ n: Int, _ width: Int) -> String {
        let s = String(n)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}
