import FHIRGateDemo
import Foundation
import NIOPosix
import Testing

extension IntegrationSuite {
/// `fhirgate check` reports problems as file:line:column and exits 1.
@Suite struct CheckCommandTests {
    /// The rest of a minimal config, after the part a test is about (which keeps its own
    /// line numbers: this goes at the end).
    static let auditAndOneRoute = """
        audit:
          path: audit.jsonl
        routes:
          - name: r
            base_url: "https://localhost/r4"
            upstream: "http://127.0.0.1:1/fhir"
        """

    func runFhirgate(_ config: String, command: String = "check") throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: GatewayProcess.binary)
        process.arguments = [command, "--config", config]
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
          http2: maybe
        \(Self.auditAndOneRoute)
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let (status, output) = try runFhirgate(config)
        #expect(status == 1)
        #expect(output.contains("bad.yaml:4:3: error: unknown key 'limitz' in 'server'"), "\(output)")
        #expect(output.contains("did you mean 'limits'?"))
        #expect(output.contains("bad.yaml:3:23: error: file 'missing.pem'"), "\(output)")
        // The rest of the section is still checked although the TLS settings failed.
        #expect(output.contains("bad.yaml:5:10: error: 'server.http2' must be true or false"), "\(output)")
    }

    /// An upstream URL the upstream client could not use (user info, port 0) is a config
    /// error with its location, not a failure at start.
    @Test func reportsAnUpstreamTheClientCannotUse() throws {
        let env = try TestEnvironment()
        /// A config whose one route ends with `routeTail` (lines at the route's indentation).
        func write(_ name: String, routeTail: String) throws -> String {
            let config = env.directory + "/" + name
            try """
            server:
              listen: "127.0.0.1:8443"
            audit:
              path: audit.jsonl
            routes:
              - name: r
                base_url: "https://localhost/r4"
            """.appending("\n" + routeTail.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n") + "\n")
                .write(toFile: config, atomically: true, encoding: .utf8)
            return config
        }
        for (upstream, column) in [("http://user@127.0.0.1:1/fhir", 15), ("http://127.0.0.1:0/fhir", 15)] {
            let config = try write("upstream.yaml", routeTail: "upstream: \"\(upstream)\"")
            let (status, output) = try runFhirgate(config)
            #expect(status == 1)
            #expect(output.contains("upstream.yaml:8:\(column): error: 'routes[0].upstream' must be an absolute http(s) URL"), "\(output)")
        }
        for advertised in ["ehr.example.org/fhir", "https://ehr.example.org/fhir/", "http://127.0.0.1:9/fhir"] {
            let config = try write("advertised.yaml", routeTail: "upstream: \"http://127.0.0.1:9/fhir\"\nupstream_advertised_base: \"\(advertised)\"")
            let (status, output) = try runFhirgate(config)
            #expect(status == 1)
            #expect(output.contains("advertised.yaml:9:31: error: 'routes[0].upstream_advertised_base' must be an absolute http(s) URL"), "\(output)")
        }
    }

    /// Certificate and key files are read at check time, as TLS will read them: one that
    /// is not PEM, and a key that is not the certificate's, are errors with their location
    /// (and so refuse a reload) instead of a start that fails without naming the file.
    @Test func reportsCertificatesAndKeysThatDoNotLoad() throws {
        let env = try TestEnvironment()
        try "not a certificate".write(toFile: env.directory + "/garbage.pem", atomically: true, encoding: .utf8)
        try DevPKI.generate().serverKeyPEM.write(toFile: env.directory + "/other-key.pem", atomically: true, encoding: .utf8)
        let config = env.directory + "/tls.yaml"
        try """
        server:
          listen: "127.0.0.1:8443"
          tls: { certificate: server.pem, private_key: other-key.pem }
        audit:
          path: audit.jsonl
        routes:
          - name: r
            base_url: "https://localhost/r4"
            upstream: "https://127.0.0.1:1/fhir"
            upstream_tls: { ca_bundle: garbage.pem, certificate: server.pem, private_key: ca.pem }
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let (status, output) = try runFhirgate(config)
        #expect(status == 1)
        #expect(output.contains("tls.yaml:3:48: error: the private key in 'other-key.pem' does not belong to the certificate in 'server.pem'"), "\(output)")
        #expect(output.contains("tls.yaml:10:32: error: file 'garbage.pem' for 'routes[0].upstream_tls.ca_bundle' is not a PEM certificate (chain)"), "\(output)")
        #expect(output.contains("tls.yaml:10:83: error: file 'ca.pem' for 'routes[0].upstream_tls.private_key' is not an unencrypted PEM private key"), "\(output)")
        // The environment's own matching pair passes.
        try String(contentsOfFile: config, encoding: .utf8).replacingOccurrences(of: "other-key.pem", with: "server-key.pem")
            .replacingOccurrences(of: "upstream_tls: { ca_bundle: garbage.pem, certificate: server.pem, private_key: ca.pem }", with: "upstream_tls: { ca_bundle: ca.pem }")
            .write(toFile: config, atomically: true, encoding: .utf8)
        let fixed = try runFhirgate(config)
        #expect(fixed.status == 0, "\(fixed.output)")
    }

    /// The admin listener on the public port would fail the start; the check says so,
    /// including a wildcard public address that covers the admin one.
    @Test func reportsAnAdminListenerOnThePublicPort() throws {
        let env = try TestEnvironment()
        let config = env.directory + "/admin.yaml"
        for (admin, clash) in [("127.0.0.1:8443", true), ("127.0.0.1:9090", false), ("127.0.0.1:0", false)] {
            try """
            server:
              listen: "0.0.0.0:8443"
            admin:
              listen: "\(admin)"
            \(Self.auditAndOneRoute)
            """.write(toFile: config, atomically: true, encoding: .utf8)
            let (status, output) = try runFhirgate(config)
            #expect(status == (clash ? 1 : 0), "\(admin): \(output)")
            #expect(output.contains("admin.yaml:4:11: error: 'admin.listen' (127.0.0.1:8443) takes the port of 'server.listen' (0.0.0.0:8443)") == clash, "\(output)")
        }
    }

    /// A credential file for `upstream_authorization: replace` is read at check time: an
    /// empty or binary one would send a credential the upstream refuses on every request.
    @Test func reportsAnUnusableUpstreamCredential() throws {
        let env = try TestEnvironment()
        try Data([0xFF, 0xFE, 0x00, 0xC3]).write(to: URL(fileURLWithPath: env.directory + "/binary"))
        try " \n".write(toFile: env.directory + "/blank", atomically: true, encoding: .utf8)
        let config = env.directory + "/credential.yaml"
        try """
        server:
          listen: "127.0.0.1:8443"
        audit:
          path: audit.jsonl
        routes:
          - name: a
            base_url: "https://localhost/a"
            upstream: "http://127.0.0.1:1/fhir"
            upstream_authorization: replace
            upstream_credential_file: binary
          - name: b
            base_url: "https://localhost/b"
            upstream: "http://127.0.0.1:1/fhir"
            upstream_authorization: replace
            upstream_credential_file: blank
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let (status, output) = try runFhirgate(config)
        #expect(status == 1)
        #expect(output.contains("credential.yaml:10:31: error: file 'binary' for 'routes[0].upstream_credential_file' is empty or not UTF-8 text"), "\(output)")
        #expect(output.contains("credential.yaml:15:31: error: file 'blank' for 'routes[1].upstream_credential_file' is empty or not UTF-8 text"), "\(output)")
    }

    /// A start that fails after the config was read (the listen port is taken: an old
    /// instance, another server) exits with status 1 and says which address, having
    /// stopped what it started (a debug build trapped on the JWKS client dropped without
    /// shutdown, and the message did not say which listener).
    @Test func aStartThatFailsExitsCleanly() async throws {
        let env = try TestEnvironment()
        let taken = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        defer { taken.close(promise: nil) }
        let port = try #require(taken.localAddress?.port)
        for (listen, admin, key) in [(port, nil, "server.listen"), (0, port, "admin.listen")] {
            let config = env.directory + "/start.yaml"
            try """
            server:
              listen: "127.0.0.1:\(listen)"
            \(admin.map { "admin:\n  listen: \"127.0.0.1:\($0)\"" } ?? "")
            audit:
              path: \(env.directory)/audit.jsonl
            routes:
              - name: r
                base_url: "https://localhost/r4"
                upstream: "http://127.0.0.1:1/fhir"
            """.write(toFile: config, atomically: true, encoding: .utf8)
            let (status, output) = try runFhirgate(config, command: "serve")
            #expect(status == 1, "\(output)")
            #expect(output.contains("Error: cannot listen on 127.0.0.1:\(port) ('\(key)'): Address already in use"), "\(output)")
            #expect(!output.contains("Fatal error"), "\(output)")
        }
    }

    @Test func reportsThreePolicyMistakesAtOnce() throws {
        let env = try TestEnvironment()
        var options = TestEnvironment.Options()
        options.policy = """
        name: broken
        exposur: {}
        rules:
          - id: reads
            match: { interactions: [reed] }
            effect: allow
          - id: reads
            effect: allow
        """
        let config = try env.writeConfig(port: 8443, adminPort: 9090, upstreamPort: 1, options: options)
        let (status, output) = try runFhirgate(config)
        #expect(status == 1)
        let located = output.split(separator: "\n").filter { $0.contains("policy.yaml:") && $0.contains(": error: ") }
        #expect(located.count == 3, "\(output)")
        #expect(output.contains("policy.yaml:2:1: error: unknown key 'exposur'") && output.contains("did you mean 'exposure'?"))
        #expect(output.contains("policy.yaml:5:29: error: unknown interaction 'reed'") && output.contains("did you mean 'read'?"))
        #expect(output.contains("policy.yaml:7:9: error: duplicate rule id 'reads'"))
    }

    @Test func shippedPoliciesPassTheirTests() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: GatewayProcess.binary)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        process.arguments = ["policy", "test", root.appendingPathComponent("Policies").path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(output)")
        #expect(output.contains(" passed, 0 failed"))
        // Each shipped policy has at least 40 cases.
        for line in output.split(separator: "\n") where line.contains(".tests.yaml: ") {
            let passed = Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
            #expect(passed >= 40, "\(line)")
        }
    }

    @Test func acceptsTheShippedExampleShape() throws {
        let env = try TestEnvironment()
        let config = try env.writeConfig(port: 8443, adminPort: 9090, upstreamPort: 1)
        let (status, output) = try runFhirgate(config)
        #expect(status == 0, "\(output)")
    }
}
}
