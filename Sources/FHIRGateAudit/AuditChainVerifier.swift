import Foundation

/// Checks the hash chain of one or more audit files, in order (rotated files first).
///
/// Each record carries `prev_hash`, the SHA-256 of the previous line's bytes. A record
/// whose text was changed no longer hashes to what the next record says; a record whose
/// `prev_hash` was changed no longer matches its predecessor. Either way the changed
/// line is the one reported. A final line without its newline (a crash mid-write) is
/// reported as incomplete, not as tampering: at the end of the last file, or at the end of
/// an earlier one (the writer sets such a file aside when it starts again, and the chain
/// goes on from the file's last complete line, which the check below still holds it to).
public enum AuditChainVerifier {
    public struct Problem: Error, Equatable, CustomStringConvertible {
        public var file: String
        public var line: Int
        public var message: String
        public var description: String { "\(file):\(line): \(message)" }
    }

    public struct Summary: Equatable {
        public var records: Int
        /// The last file ends in the middle of a record.
        public var incompleteTail: Bool
        /// `file:line` of records cut off at the end of an earlier file.
        public var cutOff: [String] = []
    }

    /// A record's place and the hash of its line.
    struct Seen {
        var file: String
        var line: Int
        var hash: String
    }

    /// Reads the files a line at a time (a day's log can be larger than the memory of the
    /// machine that checks it). Deciding which of two records changed needs the record
    /// after them, so a mismatch waits one record before it is reported.
    public static func verify(files: [String]) throws(Problem) -> Summary {
        var count = 0
        var incomplete = false
        var cutOff: [String] = []
        var previous: Seen?
        // A record whose prev_hash does not match its predecessor's line, and that one.
        var mismatch: (before: Seen, at: Seen)?
        for (fileIndex, file) in files.enumerated() {
            guard var reader = LineReader(path: file) else { throw Problem(file: file, line: 0, message: "cannot read the file") }
            var number = 0
            while let line = reader.next() {
                number += 1
                guard let text = String(validating: line, as: UTF8.self) else { throw Problem(file: file, line: number, message: "not UTF-8 text") }
                let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any]
                let here = Seen(file: file, line: number, hash: AuditWriter.hash(text))
                if let (before, at) = mismatch {
                    // If this record still vouches for the one before it, that one is
                    // intact: the record before it changed.
                    if object.flatMap(previousHash) == at.hash {
                        throw Problem(file: before.file, line: before.line, message: "record does not match the hash its successor recorded (edited or replaced, or records after it removed)")
                    }
                    throw Problem(file: at.file, line: at.line, message: "record edited: its prev_hash or content no longer matches")
                }
                guard let object else { throw Problem(file: file, line: number, message: "not a JSON record") }
                if let previous, previousHash(object) != previous.hash { mismatch = (previous, here) }
                previous = here
                count += 1
            }
            if reader.endsMidLine {
                // No trailing newline: the last write did not complete.
                if fileIndex == files.count - 1 { incomplete = true } else { cutOff.append("\(file):\(number + 1)") }
            }
        }
        if let (before, at) = mismatch {
            throw Problem(file: at.file, line: at.line, message: "chain broken between this record and \(before.file):\(before.line) (one of the two was edited)")
        }
        return Summary(records: count, incompleteTail: incomplete, cutOff: cutOff)
    }

    /// The complete lines of a file, 64 KB read at a time; what follows the last newline
    /// is not a line (`endsMidLine`).
    struct LineReader {
        private let handle: FileHandle
        private var lines = LineBuffer()
        private(set) var endsMidLine = false

        init?(path: String) {
            guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
            self.handle = handle
        }

        mutating func next() -> ArraySlice<UInt8>? {
            while true {
                if let line = lines.nextLine() { return line }
                guard let data = (try? handle.read(upToCount: 64 * 1024)) ?? nil, !data.isEmpty else {
                    endsMidLine = lines.hasPartialLine
                    try? handle.close()
                    return nil
                }
                lines.append(data)
            }
        }
    }

    /// `prev_hash` of a JSON-lines record, or the prev-hash extension of an AuditEvent.
    static func previousHash(_ object: [String: Any]) -> String? {
        if let h = object["prev_hash"] as? String { return h }
        let extensions = object["extension"] as? [[String: Any]] ?? []
        return extensions.first { $0["url"] as? String == AuditRecord.previousHashExtension }?["valueString"] as? String
    }
}
