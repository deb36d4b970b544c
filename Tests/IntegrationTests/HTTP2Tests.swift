import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing

extension IntegrationSuite {
/// HTTP/2 to clients: ALPN `h2`, every stream through the same phases as HTTP/1.1.
@Suite(.serialized) struct HTTP2Tests {
    @Test func h2IsNegotiatedAndAnswersLikeHTTP1() async throws {
        try await GatewayFixture.with { f in
            let h2 = try TestClient(caPEM: f.env.pki.caCertificatePEM, http2: true)
            defer { Task { await h2.shutdown() } }
            let token = try f.token("patient/*.rs", patient: "pat-a")
            let viaH2 = try await h2.send(.GET, "\(f.base)/Patient/pat-a", token: token)
            let viaH1 = try await f.client.send(.GET, "\(f.base)/Patient/pat-a", token: token)
            #expect(viaH2.version == .http2)
            #expect(viaH1.version == .http1_1)
            #expect(viaH2.status == 200)
            #expect(viaH2.body == viaH1.body)
            #expect(viaH2.headers.first(name: "X-Request-ID") != nil)
            // No HTTP/1.1 connection-specific header leaks into an h2 response.
            #expect(viaH2.headers.first(name: "Connection") == nil)

            // Denials keep their status, OperationOutcome and WWW-Authenticate.
            let otherPatient = try await h2.send(.GET, "\(f.base)/Observation?patient=pat-b", token: token)
            #expect(otherPatient.status == 403)
            #expect(otherPatient.headers.first(name: "WWW-Authenticate")?.contains("insufficient_scope") == true)
            #expect(otherPatient.json["resourceType"] as? String == "OperationOutcome")
            let noToken = try await h2.send(.GET, "\(f.base)/Patient/pat-a")
            #expect(noToken.status == 401)
            #expect(noToken.headers.first(name: "WWW-Authenticate")?.hasPrefix("Bearer") == true)
            let oddPath = try await h2.send(.GET, "\(f.base)/Patient/pat-a/../pat-b", token: token)
            #expect(oddPath.status == 400)

            // One audit record per request, each saying which protocol it came on.
            try await Task.sleep(for: .milliseconds(300))
            let records = f.env.auditLines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            #expect(records.count == 5)
            #expect(records.filter { $0["http_version"] as? String == "2" }.count == 4)
            #expect(records.filter { $0["http_version"] as? String == "1.1" }.count == 1)
        }
    }

    /// Many streams at once on one connection: each is its own request with its own
    /// decision; answers do not mix and none is lost.
    @Test func concurrentStreamsKeepTheirOwnDecisions() async throws {
        try await GatewayFixture.with { f in
            let h2 = try TestClient(caPEM: f.env.pki.caCertificatePEM, http2: true)
            defer { Task { await h2.shutdown() } }
            let token = try f.token("patient/*.rs", patient: "pat-a")
            let direct = try await f.client.send(.GET, "http://127.0.0.1:\(f.upstreamPort)/fhir/Patient/pat-a")
            let results = try await withThrowingTaskGroup(of: (Int, TestClient.Response).self) { group in
                for i in 0..<60 {
                    group.addTask {
                        let path = i % 3 == 0 ? "/Patient/pat-b" : "/Patient/pat-a"
                        return (i, try await h2.send(.GET, f.base + path, token: token))
                    }
                }
                return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            #expect(results.count == 60)
            for (i, response) in results {
                #expect(response.version == .http2)
                if i % 3 == 0 {
                    #expect(response.status == 403) // another patient's Patient record
                } else {
                    #expect(response.status == 200)
                    #expect(response.body == direct.body)
                }
            }
            try await Task.sleep(for: .milliseconds(300))
            #expect(f.env.auditLines.count == 60)
        }
    }

    @Test func largeBodiesStreamOverH2() async throws {
        try await GatewayFixture.with { f in
            let h2 = try TestClient(caPEM: f.env.pki.caCertificatePEM, http2: true)
            defer { Task { await h2.shutdown() } }
            let token = try f.token("system/*.cruds")
            let body = Array(#"{"resourceType":"Observation","status":"final","code":{"text":"h2"},"valueString":"\#(String(repeating: "y", count: 300_000))"}"#.utf8)
            let created = try await h2.send(.POST, "\(f.base)/Observation", token: token,
                                            headers: [("Content-Type", "application/fhir+json")], body: body)
            #expect(created.version == .http2)
            #expect(created.status == 201)
            #expect(f.upstream.receivedBodies.last == body)
            let tooLarge = try await h2.send(.POST, "\(f.base)/Observation", token: token,
                                             headers: [("Content-Type", "application/fhir+json")], body: Array(repeating: 0x20, count: 2_000_000))
            #expect(tooLarge.status == 413)
        }
    }

    /// A stream whose body stalls gets the 408 an HTTP/1.1 connection gets (there the
    /// head guard keeps the timeout; on h2 the stream's handler), with its audit record.
    @Test func aStalledBodyOnAStreamTimesOut() async throws {
        var options = TestEnvironment.Options()
        options.bodyTimeout = 1.0
        try await GatewayFixture.with(options) { f in
            let h2 = try TestClient(caPEM: f.env.pki.caCertificatePEM, http2: true)
            defer { Task { await h2.shutdown() } }
            let token = try f.token("system/*.cruds")
            var request = HTTPClientRequest(url: "\(f.base)/Observation")
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer " + token)
            request.headers.add(name: "Content-Type", value: "application/fhir+json")
            let stalled = AsyncStream<ByteBuffer> { continuation in
                continuation.yield(ByteBuffer(string: #"{"resourceType":"Obs"#)) // and then nothing more
            }
            request.body = .stream(stalled, length: .known(Int64(1000)))
            let started = ContinuousClock.now
            let response = try await h2.client.execute(request, timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 1 << 16)
            #expect(response.version == .http2)
            #expect(response.status == .requestTimeout)
            #expect(String(buffer: body).contains("OperationOutcome"))
            #expect(started.duration(to: .now) < .seconds(5))
            #expect(f.upstream.receivedBodies.allSatisfy { $0.isEmpty }) // nothing of the stalled POST went upstream
            try await Task.sleep(for: .milliseconds(300))
            #expect(f.env.auditLines.contains { $0.contains("\"body_timeout\"") && $0.contains("\"http_version\":\"2\"") && $0.contains("\"status\":408") })
        }
    }

    /// A client that stops reading one stream's response has that stream reset after the
    /// send timeout, and the response is audited as interrupted (HTTP/1.1: the connection).
    @Test func aStreamWhoseClientStopsReadingIsReset() async throws {
        var options = TestEnvironment.Options()
        options.sendTimeout = 1
        try await GatewayFixture.with(options) { f in
            let token = try f.token("system/*.rs")
            let path = "/r4/Binary/bytes-200000000"
            let client = try await StalledHTTP2Client(port: f.gateway.port, caPEM: f.env.pki.caCertificatePEM, path: path, token: token)
            let started = ContinuousClock.now
            var interrupted: [String: Any]?
            while interrupted == nil, started.duration(to: .now) < .seconds(10) {
                try await Task.sleep(for: .milliseconds(200))
                interrupted = f.env.auditLines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                    .first { ($0["path"] as? String) == path }
            }
            let record = try #require(interrupted, "no audit record: the stalled stream was never given up")
            #expect(record["reason"] as? String == "response_interrupted")
            #expect(record["http_version"] as? String == "2")
            #expect((record["bytes_out"] as? Int ?? 0) < 200_000_000)
            #expect(started.duration(to: .now) < .seconds(8))
            await client.close()
        }
    }

    /// Header blocks NIOHTTP2 refuses (here a header name with upper case, which HTTP/2
    /// forbids) end in a reset stream before any handler of ours sees a request: each
    /// still gets its audit record.
    @Test func requestsNIOHTTP2RefusesAreAudited() async throws {
        try await GatewayFixture.with { f in
            let base: [(String, String)] = [(":method", "GET"), (":scheme", "https"), (":authority", "localhost:\(f.gateway.port)"),
                                            (":path", "/r4/metadata")]
            let reset = try await sendRawHTTP2Headers(port: f.gateway.port, caPEM: f.env.pki.caCertificatePEM,
                                                      headers: base + [("X-Upper-Case", "1")])
            #expect(reset)
            try await Task.sleep(for: .milliseconds(300))
            let records = f.env.auditLines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            #expect(records.contains { $0["reason"] as? String == "h2_protocol_error" && $0["http_version"] as? String == "2" && $0["status"] as? Int == 400 })
            // The same block without the bad header is answered (the raw client itself works).
            let answeredReset = try await sendRawHTTP2Headers(port: f.gateway.port, caPEM: f.env.pki.caCertificatePEM, headers: base)
            #expect(!answeredReset)
        }
    }

    @Test func http2CanBeTurnedOff() async throws {
        var options = TestEnvironment.Options()
        options.http2 = false
        try await GatewayFixture.with(options) { f in
            let h2 = try TestClient(caPEM: f.env.pki.caCertificatePEM, http2: true)
            defer { Task { await h2.shutdown() } }
            let response = try await h2.send(.GET, "\(f.base)/metadata")
            #expect(response.status == 200)
            #expect(response.version == .http1_1)
        }
    }
}
}
