import Foundation
import Testing

extension IntegrationSuite {
/// Reload and shutdown with real signals to the real binary.
@Suite(.serialized) struct LifecycleTests {
    @Test func sighupWithBrokenConfigKeepsServingTheOldOne() async throws {
        try await GatewayFixture.with { f in
            let token = try f.token("system/*.rs")
            #expect(try await f.client.send(.GET, "\(f.base)/Patient/pat-a", token: token).status == 200)

            let good = try String(contentsOfFile: f.configFile, encoding: .utf8)
            try (good + "\nunknown_section: 1\n").write(toFile: f.configFile, atomically: true, encoding: .utf8)
            f.gateway.signal(SIGHUP)
            for _ in 0..<50 where !f.gateway.log.contains("reload refused") { try await Task.sleep(for: .milliseconds(100)) }
            #expect(try await f.client.send(.GET, "\(f.base)/Patient/pat-a", token: token).status == 200)
            #expect(f.gateway.log.contains("gateway.yaml:"), "the refusal names file:line")
            #expect(f.gateway.log.contains("unknown key 'unknown_section'"))

            // A good change is picked up without a restart: a second route appears.
            let second = good.replacingOccurrences(of: "routes:\n", with: """
            routes:
              - name: second
                base_url: "https://localhost:\(f.gateway.port)/second"
                upstream: "http://127.0.0.1:\(f.upstreamPort)/fhir"

            """)
            try second.write(toFile: f.configFile, atomically: true, encoding: .utf8)
            let secondBase = "https://localhost:\(f.gateway.port)/second"
            #expect(try await f.client.send(.GET, "\(secondBase)/metadata").status == 404)
            f.gateway.signal(SIGHUP)
            var status = 0
            for _ in 0..<50 where status != 200 {
                status = try await f.client.send(.GET, "\(secondBase)/metadata").status
                if status != 200 { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(status == 200)
        }
    }

    @Test func aBadCertificateOnReloadKeepsTheOldOne() async throws {
        try await GatewayFixture.with { f in
            try "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n"
                .write(toFile: f.env.directory + "/server.pem", atomically: true, encoding: .utf8)
            f.gateway.signal(SIGHUP)
            for _ in 0..<50 where !f.gateway.log.contains("reload refused") { try await Task.sleep(for: .milliseconds(100)) }
            #expect(f.gateway.log.contains("reload refused"))
            // New TLS connections still get the old, good certificate.
            let fresh = try TestClient(caPEM: f.env.pki.caCertificatePEM)
            let status = (try? await fresh.send(.GET, "\(f.base)/metadata"))?.status
            await fresh.shutdown()
            #expect(status == 200)
            #expect(f.gateway.isRunning)
        }
    }

    /// An ops script that reloads as soon as the gateway is up must not kill it (the signal
    /// used to be trapped only once the reload loop ran, after "listening").
    @Test func aReloadRightAfterStartIsAReloadNotAnExit() async throws {
        var options = TestEnvironment.Options()
        options.signalWhenListening = SIGHUP
        try await GatewayFixture.with(options) { f in
            let token = try f.token("system/*.rs")
            let response = try await f.client.send(.GET, "\(f.base)/Patient/pat-a", token: token)
            #expect(response.status == 200)
            try await Task.sleep(for: .milliseconds(300))
            #expect(f.gateway.isRunning)
            #expect(f.gateway.log.contains("configuration reloaded"))
        }
    }

    @Test func aSighupStormUnderLoadFailsNoRequest() async throws {
        try await GatewayFixture.with { f in
            let token = try f.token("system/*.rs")
            let load = SteadyLoad(f, url: "\(f.base)/Patient/pat-a", token: token)
            for _ in 0..<50 {
                f.gateway.signal(SIGHUP)
                try await Task.sleep(for: .milliseconds(30))
            }
            try await Task.sleep(for: .milliseconds(500))
            let (sent, failed) = try await load.finish()
            print("SIGHUP storm: \(sent) requests, \(failed) failed, 50 reloads")
            #expect(sent > 50 && failed == 0)
            #expect(f.gateway.isRunning)
        }
    }

    @Test func sigtermDrainsAnInFlightRequest() async throws {
        var options = TestEnvironment.Options()
        options.readTimeout = 10
        try await GatewayFixture.with(options) { f in
            let token = try f.token("system/*.rs")
            let slow = Task { try await f.client.send(.GET, "\(f.base)/Binary/slow-1500", token: token) }
            try await Task.sleep(for: .milliseconds(400))
            f.gateway.signal(SIGTERM)
            let response: TestClient.Response
            do { response = try await slow.value } catch { Issue.record("in-flight request failed: \(error)\n\(f.gateway.log)"); return }
            #expect(response.status == 200)
            #expect(response.json["id"] as? String == "slow-1500")
            let status = await f.gateway.waitForExit(timeout: 10)
            #expect(status == 0)
            // Its audit record was written before exit.
            #expect(f.env.auditLines.contains { $0.contains("/r4/Binary/slow-1500") && $0.contains("\"status\":200") })
            // New connections are refused once draining started.
            await #expect(throws: (any Error).self) {
                _ = try await RawTLSConnection(port: f.gateway.port, caPEM: f.env.pki.caCertificatePEM)
            }
        }
    }
}
}
