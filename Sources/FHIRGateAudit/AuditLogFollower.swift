import Foundation

/// Reads lines appended to an audit file, following it when it is rotated (moved away and
/// recreated): the rest of the old file is read first, then the new one from its start.
/// `fhirgate audit tail` uses it; a day's log can be hundreds of MB, so `fromLast: n`
/// starts at the file's last n lines (found from its end), and lines are split in one
/// pass (taking each line off the front of the buffer made reading a file quadratic:
/// 26 s for 22 MB).
public struct AuditLogFollower {
    public let path: String
    private var handle: FileHandle?
    private var inode: UInt64 = 0
    private var pending = LineBuffer()
    /// Where the first file read starts (a rotated-in file is read from its start).
    private enum Start {
        case beginning
        case lastLines(Int)
        case after(time: String)
    }
    private var start: Start

    public init(path: String, fromLast lines: Int? = nil) {
        self.path = path
        start = lines.map(Start.lastLines) ?? .beginning
    }

    /// Starts after the last record older than `time` (an audit `time` value), found from
    /// the file's end: `audit tail --since 10m` on a day's log reads the last minutes, not
    /// the day. Records are in time order up to the moments between a response's end and
    /// its record's queueing, so callers pass a time a little before the one they filter on.
    /// A line without a leading `time` (another format) makes it read the whole file.
    public init(path: String, fromTime time: String) {
        self.path = path
        start = .after(time: time)
    }

    public mutating func readNewLines() -> [String] {
        var lines: [String] = []
        if handle == nil, let h = FileHandle(forReadingAtPath: path) {
            handle = h
            var info = stat()
            fstat(h.fileDescriptor, &info)
            inode = UInt64(info.st_ino)
            switch start {
            case .beginning: break
            case .lastLines(let n):
                try? h.seek(toOffset: UInt64(Self.offsetOfLastLines(n, fd: h.fileDescriptor, size: Int(info.st_size))))
            case .after(let time):
                try? h.seek(toOffset: UInt64(Self.offsetAfterLastRecord(before: time, fd: h.fileDescriptor, size: Int(info.st_size))))
            }
            start = .beginning
        }
        guard let h = handle else { return [] }
        lines += split(h.readDataToEndOfFile())
        var info = stat()
        if stat(path, &info) != 0 || UInt64(info.st_ino) != inode {
            // Rotated: finish the old file, continue with the new one next time.
            lines += split(h.readDataToEndOfFile())
            try? h.close()
            handle = nil
        }
        return lines
    }

    private mutating func split(_ data: Data) -> [String] {
        pending.append(data)
        var lines: [String] = []
        while let line = pending.nextLine() { lines.append(String(decoding: line, as: UTF8.self)) }
        return lines
    }

    /// Where the line after the last record older than `time` begins (0 if there is none,
    /// or if a line does not start with `{"time":"…"`). Times are fixed-width ISO 8601 UTC,
    /// so they compare as bytes.
    static func offsetAfterLastRecord(before time: String, fd: Int32, size: Int) -> Int {
        let prefix = Array(#"{"time":""#.utf8)
        let wanted = Array(time.utf8)
        var found = 0
        var lineEnd = size      // where the line being looked at ends (its newline, or the file's end)
        var later: [UInt8] = [] // the first bytes after the piece being read (the next piece's start)
        _ = AuditLogTail.readBackwards(fd: fd, size: size) { piece, offset in
            let window = piece + later
            later = Array(piece.prefix(prefix.count + wanted.count))
            // Each line start in this piece, from the last: after a newline, or the file's start.
            var i = piece.count - 1
            while i >= -1 {
                if i >= 0, piece[i] != 0x0A { i -= 1; continue }
                if i == -1, offset != 0 { break }
                let start = i + 1
                let absolute = offset + start
                defer { lineEnd = absolute - 1; i -= 1 }
                guard absolute < lineEnd else { continue } // an empty line (or the file's end)
                let head = window[start..<min(window.count, start + prefix.count + wanted.count)]
                guard head.starts(with: prefix) else {
                    found = 0
                    return true
                }
                if head.dropFirst(prefix.count).lexicographicallyPrecedes(wanted) {
                    found = lineEnd + 1
                    return true
                }
            }
            return false
        }
        return min(found, size)
    }

    /// Where the last `n` complete lines of the file begin (0 if it has no more than
    /// that): just after the (n+1)-th newline from the end.
    static func offsetOfLastLines(_ n: Int, fd: Int32, size: Int) -> Int {
        var newlines = 0
        var found = 0
        _ = AuditLogTail.readBackwards(fd: fd, size: size) { piece, offset in
            for i in stride(from: piece.count - 1, through: 0, by: -1) where piece[i] == 0x0A {
                newlines += 1
                if newlines == n + 1 {
                    found = offset + i + 1
                    return true
                }
            }
            return false
        }
        return found
    }
}
