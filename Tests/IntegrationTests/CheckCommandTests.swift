import Foundation
import Testing

extension IntegrationSuite {
/// `fhirgate check` reports problems as file:line:column and exits 1.
@Suite struct CheckCommandTests {
    func runCheck(_ config: String) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: GatewayProcess.binary)
        process.arguments = ["check", "--config", config]
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func reportsUnknownKeyAndMissingCertificateWithLocations() throws {
        let env = try TestEnvironment()
        let config = env.directory + "/bad.yaml"
        try """
        server:
          listen: "127.0.0.1:8443"
          tls: { certificate: missing.pem, private_key: server-key.pem }
          limitz: { max_header_bytes: 1 }
        audit:
          path: audit.jsonl
        routes:
          - name: r
            base_url: "https://localhost/r4"
            upstream: "http://127.0.0.1:1/fhir"
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let (status, output) = try runCheck(config)
        #expect(status == 1)
        #expect(output.contains("bad.yaml:4:3: error: unknown key 'limitz' in 'server'"), "\(output)")
        #expect(output.contains("did you mean 'limits'?"))
        #expect(output.contains("bad.yaml:3:23: error: file 'missing.pem'"), "\(output)")
    }

    @Test func acceptsTheShippedExampleShape() throws {
        let env = try TestEnvironment()
        let config = try env.writeConfig(port: 8443, adminPort: 9090, upstreamPort: 1)
        let (status, output) = try runCheck(config)
        #expect(status == 0, "\(output)")
    }
}
}
