import FHIRGateDemo
import Foundation

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
        upstream = try SampleUpstream()
        upstreamPort = try await upstream.start()
        let port = try TestEnvironment.freePort()
        let adminPort = try TestEnvironment.freePort()
        configFile = try env.writeConfig(port: port, adminPort: adminPort, upstreamPort: upstreamPort, options: options)
        gateway = try await GatewayProcess(config: configFile, port: port, adminPort: adminPort, directory: env.directory)
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
