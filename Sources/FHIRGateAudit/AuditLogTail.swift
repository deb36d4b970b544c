import Foundation

/// Where the hash chain of an existing audit file continues: the hash of its last
/// complete line, and whether the file ends in the middle of a line (the gateway stopped
/// during a write). Read from the end of the file, a chunk at a time: a gateway restarted
/// on a day's log used to read the whole file into memory and split it into lines before
/// writing its first record, and every response waited for that (p99 of 0.5–1.4 s after
/// restarts on a few hundred MB of log in the load benchmark).
struct AuditLogTail: Equatable {
    var lastLineHash: String?
    var endsMidLine: Bool

    static let chunk = 64 * 1024

    static func read(path: String) -> AuditLogTail {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return AuditLogTail(lastLineHash: nil, endsMidLine: false) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_size > 0 else { return AuditLogTail(lastLineHash: nil, endsMidLine: false) }
        let size = Int(info.st_size)
        // The file's last bytes, extended backwards until they hold a whole non-empty line
        // ended by a newline (or reach the start of the file).
        var start = size
        var suffix: [UInt8] = []
        var endsMidLine = false
        while start > 0 {
            let from = max(0, start - chunk)
            var piece = [UInt8](repeating: 0, count: start - from)
            let n = piece.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(from)) }
            guard n == piece.count else { return AuditLogTail(lastLineHash: nil, endsMidLine: false) }
            if start == size { endsMidLine = piece.last != 0x0A }
            suffix = piece + suffix
            start = from
            if let line = lastCompleteLine(suffix, atFileStart: start == 0) {
                return AuditLogTail(lastLineHash: String(validating: line, as: UTF8.self).map(AuditWriter.hash), endsMidLine: endsMidLine)
            }
        }
        return AuditLogTail(lastLineHash: nil, endsMidLine: endsMidLine)
    }

    /// The last non-empty line of `bytes` that a newline ends, if `bytes` holds all of it
    /// (its start is a newline or, at the start of the file, the first byte).
    static func lastCompleteLine(_ bytes: [UInt8], atFileStart: Bool) -> ArraySlice<UInt8>? {
        var end = bytes.lastIndex(of: 0x0A)
        while let e = end {
            let begin = bytes[..<e].lastIndex(of: 0x0A)
            guard let b = begin else {
                // No newline before it: the line starts here only at the start of the file.
                return atFileStart && e > 0 ? bytes[0..<e] : nil
            }
            if e - b > 1 { return bytes[(b + 1)..<e] }
            end = b // an empty line: the one before it
        }
        return nil
    }
}
