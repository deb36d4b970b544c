import Foundation
import Testing
@testable import FHIRGateAudit

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
