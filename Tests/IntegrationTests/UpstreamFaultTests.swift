import AsyncHTTPClient
import Foundation
import NIOCore
import Testing

extension IntegrationSuite {
/// Upstreams that fail at the byte level. None of them produces a response that bypassed
/// a check, and a response cut mid-stream closes the client's connection instead of
/// looking complete.
@Suite(.serialized) struct UpstreamFaultTests {
    func fixture(_ upstream: RawUpstream, readTimeout: Double = 1.5) -> TestEnvironment.Options {
        var o = TestEnvironment.Options()
        o.upstreamOverride = "http://127.0.0.1:\(upstream.port)/fhir"
        o.readTimeout = readTimeout
        return o
    }

    @Test func malformedHTTPFromTheUpstreamGives502() async throws {
        let upstream = try await RawUpstream { writer, _ in
            try await writer.write(ByteBuffer(string: "HTTP/1.1 ??? What\r\nContent-Length: 3\r\n\r\nabc"))
        }
        defer { Task { await upstream.stop() } }
        try await GatewayFixture.with(fixture(upstream)) { f in
            let r = try await f.client.send(.GET, "\(f.base)/Patient/pat-a", token: try f.token("user/*.rs"))
            #expect(r.status == 502 && r.json["resourceType"] as? String == "OperationOutcome")
            #expect(!r.text.contains("What") && !r.text.contains("127.0.0.1"))
        }
    }

    /// An upstream's failure is described by the gateway: its exception text and host
    /// names never reach the client; 4xx answers (the client's own mistakes) pass.
    @Test func upstreamFailuresAreTheGatewaysToDescribe() async throws {
        try await GatewayFixture.with { f in
            let token = try f.token("user/*.rs")
            for (code, expected) in [(500, 502), (502, 502), (501, 502), (503, 503), (504, 504)] {
                let r = try await f.client.send(.GET, "\(f.base)/Binary/fail-\(code)", token: token)
                #expect(r.status == expected && r.json["resourceType"] as? String == "OperationOutcome", "\(code)")
                #expect(!r.text.contains("NullPointer") && !r.text.contains("ehr.internal"), "\(code)")
                #expect((r.headers.first(name: "Retry-After") == "30") == (code == 503), "\(code)")
            }
            // Nor does its software's name on a success.
            let ok = try await f.client.send(.GET, "\(f.base)/Binary/echo", token: token)
            #expect(ok.status == 200 && ok.headers.first(name: "Server") == nil && ok.headers.first(name: "X-Powered-By") == nil)
            let direct = try await f.client.send(.GET, "http://127.0.0.1:\(f.upstreamPort)/fhir/Binary/fail-500")
            #expect(direct.text.contains("NullPointer")) // the upstream did send it
            let bad = try await f.client.send(.GET, "\(f.base)/Binary/fail-400", token: token)
            #expect(bad.status == 400 && bad.text.contains("NullPointer"))
            // The upstream refusing the gateway's own credential (this route strips the
            // client's) is the gateway's failure: 502, not a 401 that sends the client to
            // re-authorize for nothing.
            let refused = try await f.client.send(.GET, "\(f.base)/Binary/fail-401", token: token)
            #expect(refused.status == 502 && refused.headers.first(name: "WWW-Authenticate") == nil)
            // Under a check, the upstream's 403 is the 404 of a missing resource.
            let a = try f.token("patient/Observation.rs", patient: "pat-a")
            let forbidden = try await f.client.send(.GET, "\(f.base)/Observation/fail-403", token: a)
            let missing = try await f.client.send(.GET, "\(f.base)/Observation/no-such-id", token: a)
            #expect(forbidden.status == 404 && forbidden.body == missing.body)
            for _ in 0..<50 where !f.env.auditLines.contains(where: { $0.contains("upstream_status_500") }) { try await Task.sleep(for: .milliseconds(20)) }
            #expect(f.env.auditLines.contains { $0.contains("\"upstream_status\":500") && $0.contains("\"reason\":\"upstream_status_500\"") })
        }
    }

    @Test func aResetMidResponseClosesTheClientConnection() async throws {
        let upstream = try await RawUpstream { writer, channel in
            try await writer.write(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Type: application/fhir+ndjson\r\nContent-Length: 100000\r\n\r\n"))
            try await writer.write(ByteBuffer(repeating: 0x41, count: 30_000))
            try await Task.sleep(for: .milliseconds(50))
            try await channel.close() // the upstream dies mid-body
        }
        defer { Task { await upstream.stop() } }
        try await GatewayFixture.with(fixture(upstream)) { f in
            // Streamed (unchecked) response: the client sees a cut, never a complete 100,000 bytes.
            var request = HTTPClientRequest(url: "\(f.base)/Binary/b1")
            request.headers.add(name: "Authorization", value: "Bearer " + (try f.token("user/*.rs")))
            var received = 0
            var failed = false
            do {
                let response = try await f.client.client.execute(request, timeout: .seconds(10))
                for try await chunk in response.body { received += chunk.readableBytes }
            } catch {
                failed = true
            }
            #expect(failed && received < 100_000, "received \(received) bytes, failed: \(failed)")
            // A checked response cut mid-body is a 502, not a partial resource.
            let checked = try await f.client.send(.GET, "\(f.base)/Observation/o1", token: try f.token("patient/*.rs", patient: "pat-a"))
            #expect(checked.status == 502)
            try await Task.sleep(for: .milliseconds(200))
            #expect(f.env.auditLines.contains { $0.contains("response_interrupted") || $0.contains("\"status\":200") })
        }
    }

    /// Over HTTP/2 the cut is a reset of the stream, at once: the stream used to stay open
    /// (its response unended) until the exchange's 10-second grace time.
    @Test func aResetMidResponseResetsTheHTTP2StreamAtOnce() async throws {
        let upstream = try await RawUpstream { writer, channel in
            try await writer.write(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Type: application/fhir+ndjson\r\nContent-Length: 100000\r\n\r\n"))
            try await writer.write(ByteBuffer(repeating: 0x41, count: 30_000))
            try await Task.sleep(for: .milliseconds(50))
            try await channel.close()
        }
        defer { Task { await upstream.stop() } }
        try await GatewayFixture.with(fixture(upstream)) { f in
            let h2 = try TestClient(caPEM: f.env.pki.caCertificatePEM, http2: true)
            defer { Task { await h2.shutdown() } }
            var request = HTTPClientRequest(url: "\(f.base)/Binary/b1")
            request.headers.add(name: "Authorization", value: "Bearer " + (try f.token("user/*.rs")))
            let started = ContinuousClock.now
            var received = 0
            var failed = false
            do {
                let response = try await h2.client.execute(request, timeout: .seconds(20))
                #expect(response.version == .http2)
                for try await chunk in response.body { received += chunk.readableBytes }
            } catch {
                failed = true
            }
            let took = started.duration(to: .now)
            #expect(failed && received < 100_000, "received \(received) bytes, failed: \(failed)")
            #expect(took < .seconds(5), "the cut reached the client after \(took)")
        }
    }

    @Test func aTricklingUpstreamIsStreamedAndAnIdleOneIsCut() async throws {
        let upstream = try await RawUpstream { writer, _ in
            try await writer.write(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Type: application/fhir+ndjson\r\nContent-Length: 20\r\n\r\n"))
            for _ in 0..<10 {
                try await writer.write(ByteBuffer(string: "ab"))
                try await Task.sleep(for: .milliseconds(100)) // slower than nothing, faster than the read timeout
            }
        }
        defer { Task { await upstream.stop() } }
        try await GatewayFixture.with(fixture(upstream, readTimeout: 0.5)) { f in
            let r = try await f.client.send(.GET, "\(f.base)/Binary/b1", token: try f.token("user/*.rs"))
            #expect(r.status == 200 && r.text == String(repeating: "ab", count: 10))
        }
        let stalling = try await RawUpstream { writer, _ in
            try await writer.write(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Length: 200\r\n\r\n{\"resourceType\":"))
            try await Task.sleep(for: .seconds(30))
        }
        defer { Task { await stalling.stop() } }
        try await GatewayFixture.with(fixture(stalling, readTimeout: 0.5)) { f in
            // A checked read whose body stalls beyond the read timeout: 502/504, never a partial resource.
            let started = ContinuousClock.now
            let r = try await f.client.send(.GET, "\(f.base)/Observation/o1", token: try f.token("patient/*.rs", patient: "pat-a"))
            #expect(r.status == 502 || r.status == 504)
            #expect(started.duration(to: .now) < .seconds(5))
        }
    }
}
}
