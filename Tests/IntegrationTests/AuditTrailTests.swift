import FHIRGateAudit
import Foundation
import Testing
import Synchronization

extension IntegrationSuite {
/// The audit trail of the real gateway under load, crashes and a failing disk.
@Suite(.serialized) struct AuditTrailTests {
    func ids(_ lines: [String]) -> [String] {
        lines.compactMap { ((try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any])?["request_id"] as? String }
    }

    @Test func concurrentRequestsGiveExactlyOneRecordEach() async throws {
        try await GatewayFixture.with { f in
            let token = try f.token("system/*.rs")
            let sent = try await withThrowingTaskGroup(of: String.self) { group in
                for i in 0..<200 {
                    group.addTask {
                        let path = i % 3 == 0 ? "Patient/pat-a" : i % 3 == 1 ? "Observation?patient=pat-b" : "Nope/x"
                        _ = try await f.client.send(.GET, "\(f.base)/\(path)", token: token, headers: [("X-Request-ID", "load-\(i)")])
                        return "load-\(i)"
                    }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            await f.stop()
            let recorded = ids(f.env.auditLines)
            #expect(recorded.count == 200)
            #expect(Set(recorded) == Set(sent))
            #expect(try AuditChainVerifier.verify(files: [f.env.directory + "/audit.jsonl"]).records == 200)
        }
    }

    @Test func killMinus9LosesNoRecordOfAnAnsweredRequest() async throws {
        try await GatewayFixture.with { f in
            let token = try f.token("system/*.rs")
            let answered = AnsweredIDs()
            let load = Task {
                await withTaskGroup(of: Void.self) { group in
                    for worker in 0..<8 {
                        group.addTask {
                            for i in 0..<10_000 {
                                let id = "w\(worker)-\(i)"
                                guard let r = try? await f.client.send(.GET, "\(f.base)/Patient/pat-a", token: token, headers: [("X-Request-ID", id)]) else { return }
                                if r.status == 200, r.headers.first(name: "X-Request-ID") == id { answered.add(id) }
                            }
                        }
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(1500))
            f.gateway.signal(SIGKILL)
            await load.value
            let received = answered.all
            #expect(received.count > 10, "load ran (\(received.count) answers)")
            let recorded = Set(ids(f.env.auditLines))
            let missing = received.filter { !recorded.contains($0) }
            #expect(missing.isEmpty, "answered without a record: \(missing.prefix(5))")
            let summary = try AuditChainVerifier.verify(files: [f.env.directory + "/audit.jsonl"])
            #expect(summary.records >= received.count)
        }
    }

    @Test func unwritableAuditGives503AndRecovers() async throws {
        try await GatewayFixture.with { f in
            let token = try f.token("system/*.rs")
            #expect(try await f.client.send(.GET, "\(f.base)/Patient/pat-a", token: token).status == 200)
            let path = f.env.directory + "/audit.jsonl"
            try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
            f.gateway.signal(SIGUSR1)
            // The next record cannot be written; from then on requests get 503.
            var statuses: [Int] = []
            for _ in 0..<6 {
                let r = try? await withThrowingTaskGroup(of: Int?.self) { group in
                    group.addTask { try await f.client.send(.GET, "\(f.base)/Patient/pat-a", token: token).status }
                    group.addTask { try await Task.sleep(for: .seconds(2)); return nil }
                    let first = try await group.next()!
                    group.cancelAll()
                    return first
                }
                statuses.append((r ?? nil) ?? 0)
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(statuses.contains(503), "\(statuses)")
            try FileManager.default.removeItem(atPath: path)
            var recovered = false
            for _ in 0..<50 where !recovered {
                recovered = (try? await f.client.send(.GET, "\(f.base)/Patient/pat-a", token: token).status) == 200
                if !recovered { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(recovered)
            await f.stop()
            #expect(try AuditChainVerifier.verify(files: [path + ".1", path]).records >= 3)
        }
    }
}


final class AnsweredIDs: Sendable {
    private let ids = Mutex<[String]>([])
    func add(_ id: String) { ids.withLock { $0.append(id) } }
    var all: [String] { ids.withLock { $0 } }
}
}
