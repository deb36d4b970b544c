import FHIRGateCore
import Crypto
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

    public static func verify(files: [String]) throws(Problem) -> Summary {
        var records: [(file: String, line: Int, text: Substring)] = []
        var incomplete = false
        var cutOff: [String] = []
        for (fileIndex, file) in files.enumerated() {
            guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
                throw Problem(file: file, line: 0, message: "cannot read the file")
            }
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            if lines.last == "" { lines.removeLast() } else if !lines.isEmpty {
                // No trailing newline: the last write did not complete.
                if fileIndex == files.count - 1 { incomplete = true } else { cutOff.append("\(file):\(lines.count)") }
                lines.removeLast()
            }
            records += lines.enumerated().map { (file, $0.offset + 1, $0.element) }
        }
        let hashes = records.map { hash($0.text) }
        for (i, record) in records.enumerated() {
            guard let object = (try? JSONSerialization.jsonObject(with: Data(record.text.utf8))) as? [String: Any] else {
                throw Problem(file: record.file, line: record.line, message: "not a JSON record")
            }
            guard i > 0 else { continue }
            let claimed = previousHash(object)
            if claimed != hashes[i - 1] {
                // Either the previous record's text or this record's prev_hash changed. If the
                // next record still vouches for this one, this one is intact: the previous changed.
                if i + 1 < records.count, prevHash(records[i + 1].text) == hashes[i] {
                    let p = records[i - 1]
                    throw Problem(file: p.file, line: p.line, message: "record does not match the hash its successor recorded (edited or replaced)")
                }
                if i + 1 == records.count {
                    let p = records[i - 1]
                    throw Problem(file: record.file, line: record.line,
                                  message: "chain broken between this record and \(p.file):\(p.line) (one of the two was edited)")
                }
                throw Problem(file: record.file, line: record.line, message: "record edited: its prev_hash or content no longer matches")
            }
        }
        return Summary(records: records.count, incompleteTail: incomplete, cutOff: cutOff)
    }

    static func hash(_ text: Substring) -> String {
        Hex.encode(SHA256.hash(data: Data(text.utf8)))
    }

    static func prevHash(_ text: Substring) -> String? {
        ((try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]).flatMap(previousHash)
    }

    /// `prev_hash` of a JSON-lines record, or the prev-hash extension of an AuditEvent.
    static func previousHash(_ object: [String: Any]) -> String? {
        if let h = object["prev_hash"] as? String { return h }
        let extensions = object["extension"] as? [[String: Any]] ?? []
        return extensions.first { $0["url"] as? String == AuditRecord.previousHashExtension }?["valueString"] as? String
    }
}
