import Foundation

/// Questions about a JSON text answered from its bytes, without reading its structure.
public enum JSONTextScan {
    /// Whether some string of the text could contain one of `needles` (ASCII URL
    /// prefixes): a needle occurs in the bytes, or the text has an escape that could spell
    /// a needle's character (`\uXXXX`, `\/`). False means no string can, so a Bundle that
    /// needs no check and has no link to rewrite can pass unread (the guard's read of a
    /// 60 KB page is most of what an unchecked search costs).
    public static func mayContain(_ needles: [String], in text: UnsafeRawBufferPointer) -> Bool {
        guard let base = text.baseAddress, !text.isEmpty else { return false }
        for needle in needles where !needle.isEmpty {
            var needle = needle
            if needle.withUTF8({ occurs($0, in: text) }) { return true }
        }
        // Every backslash starts a two-byte escape (or `\u` and four digits): step over
        // each, so `\\u0068` (a backslash, then the letters) is not taken for `\u0068`.
        var i = 0
        while i < text.count, let hit = memchr(base + i, 0x5C, text.count - i) {
            let at = base.distance(to: UnsafeRawPointer(hit))
            guard at + 1 < text.count else { return true }
            let next = text[at + 1]
            if next == UInt8(ascii: "u") || next == UInt8(ascii: "/") { return true }
            i = at + 2
        }
        return false
    }

    /// `needle` somewhere in `text` (memchr for its first byte, then a compare).
    static func occurs(_ needle: UnsafeBufferPointer<UInt8>, in text: UnsafeRawBufferPointer) -> Bool {
        guard let first = needle.first, needle.count <= text.count, let base = text.baseAddress else { return false }
        let last = text.count - needle.count
        var i = 0
        while i <= last, let hit = memchr(base + i, Int32(first), last - i + 1) {
            let at = base.distance(to: UnsafeRawPointer(hit))
            if memcmp(base + at, needle.baseAddress!, needle.count) == 0 { return true }
            i = at + 1
        }
        return false
    }
}
