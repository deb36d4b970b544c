import Foundation
import Testing
@testable import FHIRGateAudit
import FHIRGateCore

/// `fhirgate audit tail`: the last records of a large log, then what is appended, across
/// a rotation.
@Suite final class AuditLogFollowerTests: ScratchDirectory {
    func append(_ text: String, to path: String) throws {
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
        try handle.close()
    }

    @Test func theLastLinesOfALogSpanningManyChunks() throws {
        let path = tempPath()
        let lines = (0..<3000).map { "{\"n\":\($0),\"pad\":\"\(String(repeating: "x", count: 90))\"}" }
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        var last5 = AuditLogFollower(path: path, fromLast: 5)
        #expect(last5.readNewLines() == Array(lines.suffix(5)))
        var more = AuditLogFollower(path: path, fromLast: 10_000)
        #expect(more.readNewLines() == lines)
        var all = AuditLogFollower(path: path)
        #expect(all.readNewLines() == lines)
        var none = AuditLogFollower(path: path, fromLast: 0)
        #expect(none.readNewLines().isEmpty)
    }

    /// `audit tail --since`: the records from a time on, found from the end of the file
    /// across chunk boundaries; a file of another format is read whole.
    @Test func theRecordsSinceATimeAreFoundFromTheEnd() throws {
        let path = tempPath()
        func time(_ n: Int) -> String { UTCTime.iso8601(secondsSince1970: 1_800_000_000 + Double(n) * 0.5) }
        // Lines of varied length, so line starts fall at every position of a 64 KB chunk.
        let lines = (0..<4000).map { "{\"time\":\"\(time($0))\",\"pad\":\"\(String(repeating: "x", count: $0 % 97))\"}" }
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        for from in [0, 1, 17, 1234, 2500, 3999] {
            var follower = AuditLogFollower(path: path, fromTime: time(from))
            #expect(follower.readNewLines() == Array(lines[from...]), "from \(from)")
        }
        var before = AuditLogFollower(path: path, fromTime: "2000-01-01T00:00:00.000Z")
        #expect(before.readNewLines() == lines)
        var after = AuditLogFollower(path: path, fromTime: "2100-01-01T00:00:00.000Z")
        #expect(after.readNewLines().isEmpty)
        // A time between two records starts at the later one.
        var between = AuditLogFollower(path: path, fromTime: UTCTime.iso8601(secondsSince1970: 1_800_000_000 + 1000.25))
        #expect(between.readNewLines() == Array(lines[2001...]))
        // Not this format (a line without a leading time): the whole file, the filter decides.
        let other = directory + "/balp.jsonl"
        try "{\"time\":\"\(time(5))\"}\n{\"resourceType\":\"AuditEvent\"}\n".write(toFile: other, atomically: true, encoding: .utf8)
        var whole = AuditLogFollower(path: other, fromTime: time(9))
        #expect(whole.readNewLines().count == 2)
        // Appended later: followed as usual.
        var follower = AuditLogFollower(path: path, fromTime: time(3999))
        #expect(follower.readNewLines() == [lines[3999]])
        try append("{\"time\":\"\(time(4000))\"}\n", to: path)
        #expect(follower.readNewLines() == ["{\"time\":\"\(time(4000))\"}"])
    }

    @Test func aLineIsGivenOnceItIsCompleteAndRotationIsFollowed() throws {
        let path = tempPath()
        try "a\nb\n".write(toFile: path, atomically: true, encoding: .utf8)
        var follower = AuditLogFollower(path: path, fromLast: 1)
        #expect(follower.readNewLines() == ["b"])
        try append("c\nhal", to: path)
        #expect(follower.readNewLines() == ["c"])
        try append("f\n", to: path)
        #expect(follower.readNewLines() == ["half"])
        // logrotate: the file is moved away (one more line was written to it first) and a new one starts.
        try append("d\n", to: path)
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        try "e\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(follower.readNewLines() == ["d"])
        #expect(follower.readNewLines() == ["e"])
    }
}
