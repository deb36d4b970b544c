import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Testing

extension IntegrationSuite {
/// Gateway-core acceptance: real TLS, real sockets, the sample upstream on an ephemeral
/// port, the real `fhirgate` binary.
@Suite(.serialized) struct ProxyCoreTests {
    @Test func getPassesThroughWithBodyIntact() async throws {
        try await GatewayFixture.with { f in
            let token = try f.token("system/*.rs")
            let viaGateway = try await f.client.send(.GET, "\(f.base)/Patient/pat-a", token: token)
            #expect(viaGateway.status == 200)
            let direct = try await f.client.send(.GET, "http://127.0.0.1:\(f.upstreamPort)/fhir/Patient/pat-a")
            #expect(viaGateway.body == direct.body)
            #expect(viaGateway.headers.first(name: "X-Request-ID") != nil)
        }
    }

    @Test func postPassesThroughWithBodyIntact() async throws {
        try await GatewayFixture.with { f in
            let token = try f.token("system/*.cruds")
            let body = Array(#"{"resourceType":"Observation","status":"final","code":{"text":"ümlaut ✓"},"valueString":"\#(String(repeating: "x", count: 50_000))"}"#.utf8)
            let response = try await f.client.send(.POST, "\(f.base)/Observation", token: token,
                                                   headers: [("Content-Type", "application/fhir+json")], body: body)
            #expect(response.status == 201)
            #expect(f.upstream.receivedBodies.last == body)
            // Location pointing at the upstream is rewritten to the public base.
            #expect(response.headers.first(name: "Location")?.hasPrefix(f.base + "/Observation/") == true)
        }
    }

    @Test func aBodyOnAMethodWithoutOneIsRefusedAndNotForwarded() async throws {
        try await GatewayFixture.with { f in
            let token = try f.token("system/*.cruds")
            let form = Array("patient=pat-b".utf8)
            for method in [HTTPMethod.GET, .DELETE] {
                let r = try await f.client.send(method, "\(f.base)/Observation", token: token,
                                                headers: [("Content-Type", "application/x-www-form-urlencoded")], body: form)
                #expect(r.status == 400 && r.text.contains("OperationOutcome"), "\(method)")
            }
            #expect(!f.upstream.requestLog.contains { $0.hasPrefix("GET /fhir/Observation") || $0.hasPrefix("DELETE /fhir/Observation") })
            // The same search without the body is served.
            #expect(try await f.client.send(.GET, "\(f.base)/Observation?patient=pat-a", token: token).status == 200)
        }
    }

    @Test func anAnnouncedBodyIsInvitedWith100Continue() async throws {
        try await GatewayFixture.with { f in
            let token = try f.token("system/*.rs")
            let body = "patient=pat-a"
            let head = "POST /r4/Observation/_search HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(token)\r\n"
                + "Content-Type: application/x-www-form-urlencoded\r\nExpect: 100-continue\r\n"
            let raw = try await RawTLSConnection(port: f.gateway.port, caPEM: f.env.pki.caCertificatePEM)
            let received = raw.startReading()
            try await raw.send(head + "Content-Length: \(body.utf8.count)\r\n\r\n")
            // Invited before a byte of the body is sent (a client would wait a second).
            #expect(await received.waitFor("HTTP/1.1 100 Continue\r\n\r\n", timeout: .seconds(3)), "\(received.text)")
            try await raw.send(body)
            #expect(await received.waitFor("HTTP/1.1 200 OK", timeout: .seconds(5)), "\(received.text)")
            await raw.close()
            // A body declared too large is refused at once, never invited.
            let big = try await RawTLSConnection(port: f.gateway.port, caPEM: f.env.pki.caCertificatePEM)
            let refused = big.startReading()
            try await big.send(head + "Content-Length: 999999999\r\n\r\n")
            #expect(await refused.waitFor("HTTP/1.1 413", timeout: .seconds(3)), "\(refused.text)")
            #expect(!refused.text.contains("100 Continue"))
            await big.close()
        }
    }

    @Test func requestIDIsKeptOrGeneratedAndForwarded() async throws {
        try await GatewayFixture.with { f in
            let token = try f.token("system/*.rs")
            let given = try await f.client.send(.GET, "\(f.base)/Binary/echo", token: token, headers: [("X-Request-ID", "abc-123")])
            #expect(given.headers.first(name: "X-Request-ID") == "abc-123")
            let seen = given.json["headers"] as? [String: String] ?? [:]
            #expect(seen["x-request-id"] == "abc-123")
            #expect(seen["x-forwarded-proto"] == "https")
            #expect(seen["x-forwarded-for"] == "127.0.0.1")
            #expect(seen["x-forwarded-host"]?.hasPrefix("localhost") == true)
        }
    }

    @Test func hopByHopHeadersAreDroppedBothWays() async throws {
        try await GatewayFixture.with { f in
            let token = try f.token("system/*.rs")
            let response = try await f.client.send(.GET, "\(f.base)/Binary/echo", token: token,
                                                   headers: [("Connection", "X-Client-Hop"), ("X-Client-Hop", "1"), ("TE", "trailers"),
                                                             ("Proxy-Authorization", "Basic Zm9vOmJhcg=="), ("Cookie", "JSESSIONID=ehr-admin")])
            #expect(response.status == 200)
            let seen = response.json["headers"] as? [String: String] ?? [:]
            #expect(seen["cookie"] == nil) // a client credential the gateway does not pass (strip)
            #expect(seen["x-client-hop"] == nil)
            #expect(seen["te"] == nil)
            #expect(seen["proxy-authorization"] == nil)
            #expect(seen["authorization"] == nil) // upstream_authorization: strip
            // The upstream answered with Keep-Alive, Proxy-Authenticate and a Connection-named header.
            #expect(response.headers.first(name: "X-Upstream-Hop") == nil)
            #expect(response.headers.first(name: "Keep-Alive") == nil)
            #expect(response.headers.first(name: "Proxy-Authenticate") == nil)
        }
    }

    @Test func oldTLSVersionsAreRefused() async throws {
        try await GatewayFixture.with { f in
            for version in [TLSVersion.tlsv1, .tlsv11] {
                let raw = try await RawTLSConnection(port: f.gateway.port, caPEM: f.env.pki.caCertificatePEM, maxTLS: version, minTLS: .tlsv1)
                try? await raw.send("GET /r4/metadata HTTP/1.1\r\nHost: localhost\r\n\r\n")
                let result = await raw.readUntilClose(timeout: .seconds(5))
                #expect(!result.text.contains("HTTP/1.1"), "TLS \(version) must not get an HTTP answer")
                await raw.close()
            }
            // TLS 1.2 works.
            let ok = try await f.client.send(.GET, "\(f.base)/metadata")
            #expect(ok.status == 200)
        }
    }

    @Test func largeResponseStreamsWithFlatMemory() async throws {
        try await GatewayFixture.with { f in
            let token = try f.token("system/*.rs")
            // Warm up the connection pools and the allocator, then measure the peak.
            _ = try await f.client.send(.GET, "\(f.base)/Binary/bytes-1048576", token: token)
            let before = f.gateway.memory().peak
            var request = HTTPClientRequest(url: "\(f.base)/Binary/bytes-\(64 << 20)")
            request.headers.add(name: "Authorization", value: "Bearer " + token)
            let response = try await f.client.client.execute(request, timeout: .seconds(60))
            #expect(response.status == .ok)
            var received = 0
            for try await chunk in response.body { received += chunk.readableBytes }
            #expect(received == 64 << 20)
            let after = f.gateway.memory().peak
            let growthMB = Double(after - before) / 1024
            #expect(growthMB < 24, "peak RSS grew by \(growthMB) MB while streaming 64 MB")
        }
    }

    @Test func headerTooLargeGets431() async throws {
        try await GatewayFixture.with { f in
            let raw = try await RawTLSConnection(port: f.gateway.port, caPEM: f.env.pki.caCertificatePEM)
            try await raw.send("GET /r4/metadata HTTP/1.1\r\nHost: localhost\r\nX-Big: \(String(repeating: "a", count: 20_000))\r\n\r\n")
            let result = await raw.readUntilClose(timeout: .seconds(5))
            #expect(result.text.hasPrefix("HTTP/1.1 431"))
            #expect(result.text.contains("\"resourceType\":\"OperationOutcome\""))
            #expect(result.closed)
            // Refused below the pipeline, and still audited; so is a request the parser refuses.
            let raw2 = try await RawTLSConnection(port: f.gateway.port, caPEM: f.env.pki.caCertificatePEM)
            try await raw2.send("GET /r4/metadata HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
            let refused = await raw2.readUntilClose(timeout: .seconds(5))
            #expect(refused.text.hasPrefix("HTTP/1.1 400"))
            // Refusals below the pipeline are queued for the audit writer: give it a moment.
            for _ in 0..<50 where !(f.env.auditLines.contains { $0.contains("\"status\":400") }) { try await Task.sleep(for: .milliseconds(20)) }
            #expect(f.env.auditLines.contains { $0.contains("\"status\":431") && $0.contains("headers_too_large") })
            #expect(f.env.auditLines.contains { $0.contains("\"status\":400") && $0.contains("http_parse_error") })
        }
    }

    @Test func bodyTooLargeGets413BeforeItIsRead() async throws {
        try await GatewayFixture.with { f in
            let token = try f.token("system/*.cruds")
            let raw = try await RawTLSConnection(port: f.gateway.port, caPEM: f.env.pki.caCertificatePEM)
            // Declares 100 MB, sends none of it: the answer must come anyway.
            try await raw.send("POST /r4/Observation HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/fhir+json\r\nContent-Length: 104857600\r\n\r\n")
            let result = await raw.readUntilClose(timeout: .seconds(5))
            #expect(result.text.hasPrefix("HTTP/1.1 413"))
            #expect(result.text.contains("too-costly"))
            // A chunked body that grows past the limit is cut off too.
            let big = [UInt8](repeating: 0x61, count: 2 << 20)
            let chunked = try await f.client.send(.POST, "\(f.base)/Observation", token: token, headers: [("Content-Type", "application/fhir+json")], body: big)
            #expect(chunked.status == 413)
            #expect(f.upstream.requestLog.allSatisfy { !$0.hasPrefix("POST") })
        }
    }

    @Test func slowHeadersAreClosedAfterTheHeaderTimeout() async throws {
        try await GatewayFixture.with { f in
            let raw = try await RawTLSConnection(port: f.gateway.port, caPEM: f.env.pki.caCertificatePEM)
            let started = ContinuousClock.now
            try await raw.send("GET /r4/metadata HTTP/1.1\r\nHost: local")
            let result = await raw.readUntilClose(timeout: .seconds(6))
            let elapsed = started.duration(to: .now)
            #expect(result.closed)
            #expect(elapsed >= .milliseconds(800) && elapsed < .seconds(4), "closed after \(elapsed)")
        }
    }

    @Test func upstreamDownGives502() async throws {
        let port = try TestEnvironment.freePort()
        var options = TestEnvironment.Options()
        options.upstreamOverride = "http://127.0.0.1:\(port)/fhir"
        try await GatewayFixture.with(options) { f in
            let token = try f.token("system/*.rs")
            let started = ContinuousClock.now
            let response = try await f.client.send(.GET, "\(f.base)/Patient/pat-a", token: token)
            #expect(response.status == 502)
            #expect(response.json["resourceType"] as? String == "OperationOutcome")
            #expect(!response.text.contains("127.0.0.1"), "no upstream address in the body")
            #expect(started.duration(to: .now) < .seconds(3))
        }
    }

    @Test func upstreamHangGives504() async throws {
        try await GatewayFixture.with { f in
            let token = try f.token("system/*.rs")
            let started = ContinuousClock.now
            let response = try await f.client.send(.GET, "\(f.base)/Binary/hang", token: token)
            #expect(response.status == 504)
            #expect((response.json["issue"] as? [[String: Any]])?.first?["code"] as? String == "timeout")
            #expect(started.duration(to: .now) < .seconds(4))
        }
    }

    @Test func everyRequestIsAuditedOnce() async throws {
        try await GatewayFixture.with { f in
            let token = try f.token("system/*.rs")
            var ids: [String] = []
            for path in ["metadata", "Patient/pat-a", "Patient/../x", "Nope/1"] {
                let r = try await f.client.send(.GET, "\(f.base)/\(path)", token: token)
                ids.append(r.headers.first(name: "X-Request-ID") ?? "")
            }
            _ = try await f.client.send(.GET, "\(f.base)/Patient/pat-a")
            // Each response waited for its record, so all five are on disk already.
            let lines = f.env.auditLines
            #expect(lines.count == 5)
            for id in ids { #expect(lines.filter { $0.contains("\"request_id\":\"\(id)\"") }.count == 1) }
            #expect(!lines.joined().contains(token))
        }
    }
}
}
