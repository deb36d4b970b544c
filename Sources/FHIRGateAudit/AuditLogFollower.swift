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
    private var partial: [UInt8] = []
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
        partial.append(contentsOf: data)
        var lines: [String] = []
        var start = 0
        while let newline = partial[start...].firstIndex(of: 0x0A) {
            lines.append(String(decoding: partial[start..<newline], as: UTF8.self))
            start = newline + 1
        }
        partial.removeFirst(start)
        return lines
    }

    /// Where the last `n` complete lines of the file begin (0 if it has no more than
    /// that): just after the (n+1)-th newline from the end, read 64 KB at a time.
    static func offsetOfLastLines(_ n: Int, fd: Int32, size: Int) -> Int {
        var newlines = 0
        var end = size
        let chunk = 64 * 1024
        var buffer = [UInt8](repeating: 0, count: chunk)
        while end > 0 {
            let from = max(0, end - chunk)
            let count = end - from
            let read = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(from)) }
            guard read == count else { return 0 }
            for i in stride(from: count - 1, through: 0, by: -1) where buffer[i] == 0x0A {
                newlines += 1
                if newlines == n + 1 { return from + i + 1 }
            }
            end = from
        }
        return 0
    }
}
