import Foundation

/// Complete lines out of bytes that arrive in pieces (a file read a chunk at a time, or
/// as it grows): what follows the last newline waits for the next piece. Each line is
/// found once and the consumed bytes are dropped once per piece, not once per line.
struct LineBuffer {
    private var bytes: [UInt8] = []
    private var start = 0

    mutating func append(_ piece: some Sequence<UInt8>) {
        bytes.removeFirst(start)
        start = 0
        bytes.append(contentsOf: piece)
    }

    mutating func nextLine() -> ArraySlice<UInt8>? {
        guard let newline = bytes[start...].firstIndex(of: 0x0A) else { return nil }
        defer { start = newline + 1 }
        return bytes[start..<newline]
    }

    /// Bytes after the last newline (a line not yet, or never, completed).
    var hasPartialLine: Bool { start < bytes.count }
}
