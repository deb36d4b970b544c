import Foundation
import Testing
@testable import FHIRGateAudit

@Suite struct AuditWriterTests {
    func tempPath() -> String {
        let dir = NSTemporaryDirectory() + "fhirgate-audit-" + UUID().uuidString.prefix(8)
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir + "/audit.jsonl"
    }

    func record(_ i: Int) -> AuditRecord {
        var r = AuditRecord(time: "2026-11-29T00:00:00.000Z", requestID: "req-\(i)", method: "GET", path: "/r4/Patient/\(i)", decision: "allow", status: 200)
        r.clientID = "app"
        r.query = AuditRecord.maskedQuery([.init(name: "access_token", value: "secret"), .init(name: "code", value: "abc")])
        return r
    }

    func lines(_ path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    @Test func concurrentAppendsGiveExactlyOneRecordEach() async throws {
        let path = tempPath()
        let writer = try AuditWriter(path: path, capacity: 64, fsync: .never)
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<2000 { group.addTask { await writer.append(record(i)) } }
        }
        await writer.shutdown()
        let written = lines(path)
        #expect(written.count == 2000)
        let ids = Set(written.compactMap { ((try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any])?["request_id"] as? String })
        #expect(ids.count == 2000)
        #expect(try AuditChainVerifier.verify(files: [path]).records == 2000)
        #expect(!written.joined().contains("secret"))
        #expect(written[0].contains("\"query\":\"access_token=***&code=abc\""))
    }

    @Test func editingOneByteIsFoundOnThatLine() async throws {
        let path = tempPath()
        let writer = try AuditWriter(path: path, fsync: .never)
        for i in 0..<10 { await writer.appendAndWait(record(i)) }
        await writer.shutdown()
        let original = try String(contentsOfFile: path, encoding: .utf8)
        var all = original.split(separator: "\n").map(String.init)
        // Content edit on line 5.
        all[4] = all[4].replacingOccurrences(of: "\"status\":200", with: "\"status\":201")
        try (all.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: AuditChainVerifier.Problem.self) { try AuditChainVerifier.verify(files: [path]) }
        do { _ = try AuditChainVerifier.verify(files: [path]) } catch { #expect(error.line == 5, "\(error)") }
        // An edit to line 7's prev_hash.
        all = original.split(separator: "\n").map(String.init)
        let range = all[6].range(of: "\"prev_hash\":\"")!
        let at = all[6].index(range.upperBound, offsetBy: 3)
        all[6].replaceSubrange(at...at, with: all[6][at] == "a" ? "b" : "a")
        try (all.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        do { _ = try AuditChainVerifier.verify(files: [path]); Issue.record("edit not found") } catch { #expect(error.line == 7, "\(error)") }
    }

    @Test func chainContinuesAcrossRestartsAndSizeRotation() async throws {
        let path = tempPath()
        var writer = try AuditWriter(path: path, fsync: .never, rotateBytes: 4096)
        for i in 0..<100 { await writer.appendAndWait(record(i)) }
        await writer.shutdown()
        writer = try AuditWriter(path: path, fsync: .never, rotateBytes: 4096)
        for i in 100..<150 { await writer.appendAndWait(record(i)) }
        await writer.shutdown()
        let dir = (path as NSString).deletingLastPathComponent
        let rotated = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("audit.jsonl.") }.sorted().map { dir + "/" + $0 }
        #expect(rotated.count >= 3)
        let summary = try AuditChainVerifier.verify(files: rotated + [path])
        #expect(summary.records == 150)
    }

    @Test func externalRotationLosesAndDuplicatesNothing() async throws {
        let path = tempPath()
        let writer = try AuditWriter(path: path, capacity: 128, fsync: .never)
        let producer = Task {
            for i in 0..<3000 { await writer.append(record(i)) }
        }
        try await Task.sleep(for: .milliseconds(20))
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")   // what logrotate does
        writer.reopen()                                                       // its postrotate SIGUSR1
        await producer.value
        await writer.shutdown()
        let all = lines(path + ".1") + lines(path)
        #expect(all.count == 3000)
        #expect(Set(all.map { $0.components(separatedBy: "\"request_id\":\"")[1].prefix { $0 != "\"" } }).count == 3000)
        #expect(try AuditChainVerifier.verify(files: [path + ".1", path]).records == 3000)
    }

    @Test func unwritableFileIsRetriedNotDropped() async throws {
        let path = tempPath()
        let writer = try AuditWriter(path: path, fsync: .never)
        await writer.appendAndWait(record(0))
        // Replace the file by a directory (root ignores permissions) and reopen.
        try FileManager.default.moveItem(atPath: path, toPath: path + ".old")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        writer.reopen()
        await writer.append(record(1))
        try await Task.sleep(for: .milliseconds(300))
        #expect(writer.isFailing)
        try FileManager.default.removeItem(atPath: path)
        await writer.appendAndWait(record(2))
        #expect(!writer.isFailing)
        await writer.shutdown()
        let recovered = lines(path)
        #expect(recovered.count == 2)
        #expect(recovered[0].contains("req-1") && recovered[1].contains("req-2"))
        #expect(try AuditChainVerifier.verify(files: [path + ".old", path]).records == 3)
    }

    @Test func incompleteLastLineIsNotTampering() throws {
        let path = tempPath()
        let a = record(1).jsonLine(previousHash: nil)
        let b = record(2).jsonLine(previousHash: AuditWriter.hash(a))
        try (a + "\n" + b + "\n" + "{\"time\":\"2026").write(toFile: path, atomically: true, encoding: .utf8)
        let summary = try AuditChainVerifier.verify(files: [path])
        #expect(summary.records == 2 && summary.incompleteTail)
    }
}
