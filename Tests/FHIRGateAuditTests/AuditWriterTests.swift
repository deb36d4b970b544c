import Foundation
import Testing
@testable import FHIRGateAudit

/// A directory of its own for each test (Swift Testing makes one suite instance per
/// test), removed with the instance so test runs leave nothing in /tmp.
class ScratchDirectory {
    let directory = NSTemporaryDirectory() + "fhirgate-audit-" + UUID().uuidString.prefix(8)

    init() {
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    func tempPath() -> String { directory + "/audit.jsonl" }
}

private func record(_ i: Int) -> AuditRecord {
    var r = AuditRecord(time: "2026-11-29T00:00:00.000Z", requestID: "req-\(i)", method: "GET", path: "/r4/Patient/\(i)", decision: "allow", status: 200)
    r.clientID = "app"
    r.query = AuditRecord.maskedQuery([.init(name: "access_token", value: "secret"), .init(name: "code", value: "abc")])
    return r
}

private func lines(_ path: String) -> [String] {
    ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
}

@Suite final class AuditWriterTests: ScratchDirectory {
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

    /// `fsync: interval` promises at most about a second of records only in the page
    /// cache. Under steady traffic (a batch every few milliseconds) the file was never
    /// synced: the "last sync" time moved on with every write.
    @Test func intervalModeSyncsEverySecondUnderSteadyWrites() async throws {
        let path = tempPath()
        let writer = try AuditWriter(path: path, fsync: .interval)
        let end = ContinuousClock.now + .milliseconds(2700)
        var i = 0
        while ContinuousClock.now < end {
            #expect(await writer.appendAndWait(record(i), timeout: .seconds(2)))
            i += 1
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(writer.intervalSyncs >= 2, "\(writer.intervalSyncs) syncs in 2.7 s of steady writes")
        await writer.shutdown()
        #expect(lines(path).count == i)
        #expect(try AuditChainVerifier.verify(files: [path]).records == i)
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

    /// The verifier reads 64 KB at a time: an edit anywhere in a long log, a record
    /// removed, and the last record changed are each named by file and line.
    @Test func changesInALongLogAreNamedByLine() async throws {
        let path = tempPath()
        let writer = try AuditWriter(path: path, capacity: 4096, fsync: .never)
        for i in 0..<1500 { await writer.append(record(i)) }
        await writer.shutdown()
        let original = lines(path)
        #expect(try AuditChainVerifier.verify(files: [path]).records == 1500)
        func check(_ edited: [String], line: Int, _ words: String) {
            do {
                try (edited.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
                _ = try AuditChainVerifier.verify(files: [path])
                Issue.record("not found: \(words)")
            } catch let problem as AuditChainVerifier.Problem {
                #expect(problem.line == line && problem.message.contains(words), "\(problem)")
            } catch {
                Issue.record("\(error)")
            }
        }
        var edited = original
        edited[1234] = edited[1234].replacingOccurrences(of: "\"status\":200", with: "\"status\":403")
        check(edited, line: 1235, "does not match the hash its successor recorded")
        // A removed record looks like an edit of the one before the gap; both are named there.
        edited = original
        edited.remove(at: 900)
        check(edited, line: 900, "or records after it removed")
        // The next-to-last record changed: nothing after it to tell which of the two it was.
        edited = original
        edited[1498] = edited[1498].replacingOccurrences(of: "req-1498", with: "req-9998")
        check(edited, line: 1500, "chain broken between this record and")
        // A prev_hash changed in the middle: the record itself is named.
        edited = original
        edited[700] = edited[700].replacingOccurrences(of: "\"prev_hash\":\"", with: "\"prev_hash\":\"0")
        check(edited, line: 701, "record edited")
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

    /// The callback form the gateway uses to resume on its own event loop: true once the
    /// record is in the file; false when the disk has not taken it by the timeout (from
    /// the watchdog, the record stays queued and is written later).
    @Test func writtenCallbackReportsTheRecordOrTheTimeout() async throws {
        let path = tempPath()
        let writer = try AuditWriter(path: path, fsync: .never)
        let written = await withCheckedContinuation { c in
            Task { await writer.append(record(0), timeout: .seconds(5)) { c.resume(returning: $0) } }
        }
        #expect(written)
        #expect(lines(path).count == 1)
        // The disk stops taking records (the file is replaced by a directory).
        try FileManager.default.moveItem(atPath: path, toPath: path + ".old")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        writer.reopen()
        let started = ContinuousClock.now
        let timedOut = await withCheckedContinuation { c in
            Task { await writer.append(record(1), timeout: .milliseconds(300)) { c.resume(returning: $0) } }
        }
        #expect(!timedOut)
        let waited = started.duration(to: .now)
        #expect(waited >= .milliseconds(300) && waited < .seconds(3))
        // Once the disk is back the queued record is written after all.
        try FileManager.default.removeItem(atPath: path)
        await writer.flush()
        await writer.shutdown()
        #expect(lines(path).first?.contains("req-1") == true)
    }

    @Test func incompleteLastLineIsNotTampering() throws {
        let path = tempPath()
        let a = record(1).jsonLine(previousHash: nil)
        let b = record(2).jsonLine(previousHash: AuditWriter.hash(a))
        try (a + "\n" + b + "\n" + "{\"time\":\"2026").write(toFile: path, atomically: true, encoding: .utf8)
        let summary = try AuditChainVerifier.verify(files: [path])
        #expect(summary.records == 2 && summary.incompleteTail)
    }

    /// A gateway that stopped during a write left a fragment: the next start must not
    /// append to it (the fragment and the next record would make one broken line).
    @Test func aRestartAfterACutOffWriteKeepsTheChainVerifiable() async throws {
        let path = tempPath()
        let first = try AuditWriter(path: path, fsync: .never)
        for i in 0..<3 { await first.appendAndWait(record(i)) }
        await first.shutdown()
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"time\":\"2026-11-29T00:00:00.000Z\",\"request_id\":\"req-cut".utf8))
        try handle.close()

        let second = try AuditWriter(path: path, fsync: .never)
        await second.appendAndWait(record(3))
        await second.shutdown()
        let directory = (path as NSString).deletingLastPathComponent
        let setAside = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("audit.jsonl.") }
        #expect(setAside.count == 1)
        let rotated = directory + "/" + (setAside.first ?? "")
        #expect(lines(path).count == 1 && lines(path)[0].contains("req-3"))
        let summary = try AuditChainVerifier.verify(files: [rotated, path])
        #expect(summary.records == 4 && !summary.incompleteTail)
        #expect(summary.cutOff == ["\(rotated):4"])
        // Taking the last complete record away is still found: the chain names it.
        let kept = lines(rotated)
        try (kept[0] + "\n" + kept[1] + "\n" + "{\"time\":\"2026").write(toFile: rotated, atomically: true, encoding: .utf8)
        #expect(throws: AuditChainVerifier.Problem.self) { try AuditChainVerifier.verify(files: [rotated, path]) }
    }
}

/// Where a restarted writer continues the chain, read from the end of the file.
@Suite final class AuditLogTailTests: ScratchDirectory {
    func tail(_ text: [UInt8]) throws -> AuditLogTail {
        let path = tempPath()
        try Data(text).write(to: URL(fileURLWithPath: path))
        return AuditLogTail.read(path: path)
    }

    func hash(_ s: String) -> String { AuditWriter.hash(s) }

    @Test func theLastCompleteLineIsFoundWhateverTheFileLooksLike() throws {
        #expect(try tail([]) == AuditLogTail(lastLineHash: nil, endsMidLine: false))
        #expect(AuditLogTail.read(path: directory + "/missing") == AuditLogTail(lastLineHash: nil, endsMidLine: false))
        #expect(try tail(Array("a\n".utf8)) == AuditLogTail(lastLineHash: hash("a"), endsMidLine: false))
        #expect(try tail(Array("a\nb\n".utf8)) == AuditLogTail(lastLineHash: hash("b"), endsMidLine: false))
        #expect(try tail(Array("a\nb\n\n\n".utf8)) == AuditLogTail(lastLineHash: hash("b"), endsMidLine: false))
        #expect(try tail(Array("a\nb\nfrag".utf8)) == AuditLogTail(lastLineHash: hash("b"), endsMidLine: true))
        #expect(try tail(Array("frag".utf8)) == AuditLogTail(lastLineHash: nil, endsMidLine: true))
        #expect(try tail(Array("\n\n".utf8)) == AuditLogTail(lastLineHash: nil, endsMidLine: false))
        #expect(try tail([0x61, 0x0A, 0xFF, 0xFE, 0x0A]) == AuditLogTail(lastLineHash: nil, endsMidLine: false))
    }

    @Test func linesLongerThanAChunkAndLinesAcrossChunksAreRead() throws {
        let long = String(repeating: "x", count: AuditLogTail.chunk * 2 + 17)
        #expect(try tail(Array(("a\n" + long + "\n").utf8)) == AuditLogTail(lastLineHash: hash(long), endsMidLine: false))
        #expect(try tail(Array((long + "\n").utf8)) == AuditLogTail(lastLineHash: hash(long), endsMidLine: false))
        // The last line starts just before a chunk boundary, seen from the end.
        let before = String(repeating: "y", count: AuditLogTail.chunk - 3)
        #expect(try tail(Array(("a\nbcdef\n" + before + "\n").utf8)) == AuditLogTail(lastLineHash: hash(before), endsMidLine: false))
        let fragment = String(repeating: "z", count: AuditLogTail.chunk + 5)
        #expect(try tail(Array(("a\nlast\n" + fragment).utf8)) == AuditLogTail(lastLineHash: hash("last"), endsMidLine: true))
    }
}

@Suite final class AuditFormatTests: ScratchDirectory {
    @Test func balpLinesAreAuditEventsAndChained() async throws {
        let path = tempPath()
        let writer = try AuditWriter(path: path, fsync: .never, format: .balp)
        var read = AuditRecord(time: "2026-11-29T01:02:03.004Z", requestID: "r1", method: "GET", path: "/r4/Observation/o1", decision: "allow", status: 200)
        read.interaction = "read"; read.resourceType = "Observation"; read.resourceID = "o1"; read.patient = "p1"; read.clientID = "app"; read.issuer = "https://as"
        var search = AuditRecord(time: "2026-11-29T01:02:04.004Z", requestID: "r2", method: "GET", path: "/r4/Observation", decision: "deny", status: 403)
        search.interaction = "searchType"; search.query = "patient=p2"; search.reason = "other_patient"
        await writer.appendAndWait(read)
        await writer.appendAndWait(search)
        await writer.shutdown()
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        #expect(first["resourceType"] as? String == "AuditEvent")
        #expect(first["action"] as? String == "R")
        #expect((first["meta"] as? [String: Any])?["profile"] as? [String] == ["https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.Read"])
        #expect(String(lines[0]).contains("\"reference\":\"Patient/p1\""))
        let second = try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as! [String: Any]
        #expect(second["outcome"] as? String == "4")
        #expect(second["action"] as? String == "E")
        #expect(try AuditChainVerifier.verify(files: [path]).records == 2)
    }

    @Test func syslogReceivesRFC5424Messages() async throws {
        // A real UDP collector on loopback.
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = bind(fd, $0, len) } }
        withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(fd, $0, &len) } }
        let port = UInt16(bigEndian: addr.sin_port)
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))

        let sink = try #require(SyslogSink(url: "udp://127.0.0.1:\(port)"))
        let writer = try AuditWriter(path: tempPath(), fsync: .never, syslog: sink)
        await writer.appendAndWait(AuditRecord(time: "2026-11-29T01:02:03.004Z", requestID: "r9", method: "GET", path: "/r4/x", decision: "deny", status: 403))
        var buffer = [UInt8](repeating: 0, count: 8192)
        let n = recv(fd, &buffer, buffer.count, 0)
        #expect(n > 0)
        let message = String(decoding: buffer.prefix(max(0, n)), as: UTF8.self)
        #expect(message.hasPrefix("<85>1 2026-11-29T01:02:03.004Z "))
        #expect(message.contains(" fhirgate "))
        #expect(message.contains("\"request_id\":\"r9\""))
        await writer.shutdown()
    }
}

#if canImport(Glibc)
import Glibc
#endif
