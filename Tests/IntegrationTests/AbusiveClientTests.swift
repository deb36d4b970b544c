import AsyncHTTPClient
import Foundation
import NIOCore
import Testing

extension IntegrationSuite {
/// Clients that hold connections, trickle bytes or speak garbage: they cost the gateway a
/// file descriptor each, never a thread, and normal clients keep being served.
@Suite(.serialized) struct AbusiveClientTests {
    /// Latencies (ms) of `count` sequential requests, sorted.
    func latencies(_ f: GatewayFixture, count: Int, token: String) async throws -> [Double] {
        var samples: [Double] = []
        for _ in 0..<count {
            let started = ContinuousClock.now
            let r = try await f.client.send(.GET, "\(f.base)/Patient/pat-a", token: token)
            #expect(r.status == 200)
            let d = started.duration(to: .now)
            samples.append(Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15)
        }
        return samples.sorted()
    }

    func p99(_ sorted: [Double]) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.99))] }

    @Test func twoThousandSlowConnectionsDoNotSlowANormalClient() async throws {
        var options = TestEnvironment.Options()
        options.headerTimeout = 120 // the slow connections stay open for the whole test
        try await GatewayFixture.with(options) { f in
            let token = try f.token("patient/*.rs", patient: "pat-a")
            _ = try await latencies(f, count: 50, token: token) // warm up
            let idle = try await latencies(f, count: 300, token: token)
            // 2,000 connections, each through TLS, each stuck in the middle of a request head.
            var slow: [RawTLSConnection] = []
            for _ in 0..<2000 {
                let c = try await RawTLSConnection(port: f.gateway.port, caPEM: f.env.pki.caCertificatePEM)
                try await c.send("GET /r4/metadata HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
                slow.append(c)
            }
            let loaded = try await latencies(f, count: 300, token: token)
            let idleP99 = p99(idle), loadedP99 = p99(loaded)
            print("slowloris: idle p99 \(String(format: "%.2f", idleP99)) ms, with 2,000 slow connections p99 \(String(format: "%.2f", loadedP99)) ms")
            #expect(loadedP99 < 3 * max(idleP99, 1.0), "p99 \(loadedP99) ms with 2,000 slow connections vs \(idleP99) ms idle")
            // They were all still open: none of them got an answer or was dropped early.
            let probe = await slow[0].readUntilClose(timeout: .milliseconds(50))
            #expect(!probe.closed && probe.text.isEmpty)
            for c in slow { await c.close() }
        }
    }

    /// A client that asks for a large response and then stops reading (slow-read attack)
    /// is disconnected after the send timeout; the interrupted response is audited.
    @Test func aClientThatStopsReadingIsDisconnected() async throws {
        var options = TestEnvironment.Options()
        options.sendTimeout = 1
        try await GatewayFixture.with(options) { f in
            let token = try f.token("system/*.rs")
            let c = try await RawTLSConnection(port: f.gateway.port, caPEM: f.env.pki.caCertificatePEM)
            // 200 MB, far more than the socket buffers hold; nothing of it is read here.
            try await c.send("GET /r4/Binary/bytes-200000000 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(token)\r\n\r\n")
            let started = ContinuousClock.now
            var interrupted: [String: Any]?
            while interrupted == nil, started.duration(to: .now) < .seconds(10) {
                try await Task.sleep(for: .milliseconds(200))
                interrupted = f.env.auditLines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                    .first { ($0["path"] as? String) == "/r4/Binary/bytes-200000000" }
            }
            let record = try #require(interrupted, "no audit record: the stalled response was never given up")
            #expect(record["reason"] as? String == "response_interrupted")
            #expect((record["bytes_out"] as? Int ?? 0) < 200_000_000)
            // Given up after about the send timeout, not after the whole body.
            #expect(started.duration(to: .now) < .seconds(8))
            await c.close()
        }
    }

    @Test func connectionCapsCloseNewConnectionsAtOnce() async throws {
        var options = TestEnvironment.Options()
        options.maxConnectionsPerIP = 20
        options.headerTimeout = 30
        try await GatewayFixture.with(options) { f in
            var held: [RawTLSConnection] = []
            for _ in 0..<20 { held.append(try await RawTLSConnection(port: f.gateway.port, caPEM: f.env.pki.caCertificatePEM, useTLS: false)) }
            try await Task.sleep(for: .milliseconds(200))
            // The 21st connection from the same address is closed before anything is read.
            let extra = try await RawTLSConnection(port: f.gateway.port, caPEM: f.env.pki.caCertificatePEM, useTLS: false)
            let (_, closed) = await extra.readUntilClose(timeout: .seconds(2))
            #expect(closed)
            await extra.close()
            let admin = "http://127.0.0.1:\(f.gateway.adminPort)"
            #expect(try await f.client.send(.GET, admin + "/metrics").text.contains("fhirgate_connections_refused_total"))
            // Freed slots are usable again.
            for c in held { await c.close() }
            try await Task.sleep(for: .milliseconds(200))
            #expect(try await f.client.send(.GET, "\(f.base)/metadata").status == 200)
        }
    }

    @Test func tlsGarbageAndSilentConnectionsAreDroppedWithoutEffect() async throws {
        try await GatewayFixture.with { f in
            // Random bytes where a ClientHello should be: closed by TLS.
            var garbage: [RawTLSConnection] = []
            for i in 0..<50 {
                let c = try await RawTLSConnection(port: f.gateway.port, caPEM: f.env.pki.caCertificatePEM, useTLS: false)
                try await c.send((0..<512).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) })
                garbage.append(c)
            }
            // Connected, then silent (half-open TLS): closed at the header timeout (1 s here).
            var silent: [RawTLSConnection] = []
            for _ in 0..<50 { silent.append(try await RawTLSConnection(port: f.gateway.port, caPEM: f.env.pki.caCertificatePEM, useTLS: false)) }
            #expect(try await f.client.send(.GET, "\(f.base)/metadata").status == 200)
            for c in garbage {
                #expect(await c.readUntilClose(timeout: .seconds(3)).closed)
                await c.close()
            }
            let started = ContinuousClock.now
            for c in silent {
                #expect(await c.readUntilClose(timeout: .seconds(4)).closed)
                await c.close()
            }
            #expect(started.duration(to: .now) < .seconds(3))
            #expect(try await f.client.send(.GET, "\(f.base)/metadata").status == 200)
            #expect(f.upstream.requestLog.filter { $0 != "GET /fhir/metadata" }.isEmpty)
        }
    }

    @Test func aTrickledBodyHitsTheBodyTimeout() async throws {
        var options = TestEnvironment.Options()
        options.bodyTimeout = 1
        try await GatewayFixture.with(options) { f in
            let token = try f.token("patient/*.cruds", patient: "pat-a")
            let raw = try await RawTLSConnection(port: f.gateway.port, caPEM: f.env.pki.caCertificatePEM)
            try await raw.send("POST /r4/Observation HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/fhir+json\r\nContent-Length: 100\r\n\r\n{\"resourceType\"")
            let started = ContinuousClock.now
            let (text, closed) = await raw.readUntilClose(timeout: .seconds(5))
            await raw.close()
            #expect(text.hasPrefix("HTTP/1.1 408 ") && text.contains("OperationOutcome") && closed, "\(text)")
            #expect(started.duration(to: .now) < .seconds(3))
            #expect(f.upstream.requestLog.filter { $0.hasPrefix("POST") }.isEmpty)
            try await Task.sleep(for: .milliseconds(200))
            #expect(f.env.auditLines.contains { $0.contains("\"status\":408") && $0.contains("body_timeout") })
        }
    }
}
}
