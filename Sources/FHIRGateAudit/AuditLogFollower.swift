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
    private var startAtLast: Int?

    public init(path: String, fromLast lines: Int? = nil) {
        self.path = path
        startAtLast = lines
    }

    public mutating func readNewLines() -> [String] {
        var lines: [String] = []
        if handle == nil, let h = FileHandle(forReadingAtPath: path) {
            handle = h
            var info = stat()
            fstat(h.fileDescriptor, &info)
            inode = UInt64(info.st_ino)
            if let n = startAtLast {
                try? h.seek(toOffset: UInt64(Self.offsetOfLastLines(n, fd: h.fileDescriptor, size: Int(info.st_size))))
            }
            startAtLast = nil // a rotated-in file is read from its start
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
