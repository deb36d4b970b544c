import FHIRGateDemo
import Foundation
import Testing

/// A sample upstream, a real `fhirgate serve` in front of it, and a client: what most
/// integration tests need.
final class GatewayFixture: @unchecked Sendable {
    let env: TestEnvironment
    let upstream: SampleUpstream
    let upstreamPort: Int
    let gateway: GatewayProcess
    let client: TestClient
    let configFile: String
    var base: String { "https://localhost:\(gateway.port)/r4" }

    init(options: TestEnvironment.Options = .init()) async throws {
        env = try TestEnvironment()
        upstream = try SampleUpstream(advertisedBase: options.advertisedBase)
        upstreamPort = try await upstream.start()
        let port = try TestEnvironment.freePort()
        let adminPort = try TestEnvironment.freePort()
        configFile = try env.writeConfig(port: port, adminPort: adminPort, upstreamPort: upstreamPort, options: options)
        gateway = try await GatewayProcess(config: configFile, port: port, adminPort: adminPort, directory: env.directory,
                                           signalWhenListening: options.signalWhenListening)
        client = try TestClient(caPEM: env.pki.caCertificatePEM)
    }

    func token(_ scope: String, patient: String? = nil, client: String = "test-app") throws -> String {
        try env.token(base: base, scope: scope, patient: patient, client: client)
    }

    /// Runs `body` with a fresh fixture and always stops it, also when `body` throws.
    static func with(_ options: TestEnvironment.Options = .init(), _ body: (GatewayFixture) async throws -> Void) async throws {
        let f = try await GatewayFixture(options: options)
        do {
            try await body(f)
        } catch {
            // A gateway that died mid-test explains the failure: its last words go with it.
            if !f.gateway.isRunning { Issue.record("the gateway exited; its log ends:\n\(f.gateway.log.suffix(6000))") }
            await f.stop()
            throw error
        }
        await f.stop()
    }

    func stop() async {
        await client.shutdown()
        gateway.signal(SIGTERM)
        _ = await gateway.waitForExit(timeout: 10)
        await upstream.stop()
    }
}
