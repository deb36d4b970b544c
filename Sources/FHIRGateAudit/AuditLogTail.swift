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

    /// Reads a file from its end, 64 KB at a time, handing each piece and its offset to
    /// `visit` until it returns true or the start of the file is reached. A day's audit log
    /// can be hundreds of MB; where the chain continues and the last records are at its end.
    /// Returns false if a read failed.
    static func readBackwards(fd: Int32, size: Int, _ visit: ([UInt8], _ offset: Int) -> Bool) -> Bool {
        var end = size
        while end > 0 {
            let from = max(0, end - chunk)
            var piece = [UInt8](repeating: 0, count: end - from)
            let n = piece.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(from)) }
            guard n == piece.count else { return false }
            if visit(piece, from) { return true }
            end = from
        }
        return true
    }

    static func read(path: String) -> AuditLogTail {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return AuditLogTail(lastLineHash: nil, endsMidLine: false) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_size > 0 else { return AuditLogTail(lastLineHash: nil, endsMidLine: false) }
        let size = Int(info.st_size)
        // The file's last bytes, extended backwards until they hold a whole non-empty line
        // ended by a newline (or reach the start of the file).
        var suffix: [UInt8] = []
        var tail = AuditLogTail(lastLineHash: nil, endsMidLine: false)
        let complete = readBackwards(fd: fd, size: size) { piece, offset in
            if suffix.isEmpty { tail.endsMidLine = piece.last != 0x0A }
            suffix = piece + suffix
            guard let line = lastCompleteLine(suffix, atFileStart: offset == 0) else { return false }
            tail.lastLineHash = String(validating: line, as: UTF8.self).map(AuditWriter.hash)
            return true
        }
        return complete ? tail : AuditLogTail(lastLineHash: nil, endsMidLine: false)
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
