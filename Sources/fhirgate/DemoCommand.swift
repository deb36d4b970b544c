import ArgumentParser
import FHIRGateDemo
import FHIRGateServer
import Foundation
import Logging

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a complete demo: dev certificates and keys, a sample FHIR upstream, the gateway, and example requests.")

    @Option(name: .long, help: "Folder for dev keys, certificates, config and audit log (kept between runs).")
    var stateDir = ".fhirgate-demo"

    @Option(name: .long, help: "Gateway HTTPS port.")
    var port = 8443

    @Option(name: .long, help: "Sample upstream port (loopback).")
    var upstreamPort = 18080

    @Option(name: .long, help: "Admin port (loopback).")
    var adminPort = 9090

    static let issuer = "https://auth.demo.fhirgate.local"

    func run() async throws {
        LogSetup.bootstrap()
        let logger = Logger(label: "fhirgate.demo")
        let state = (stateDir as NSString).standardizingPath
        let keys = try DemoState.prepare(state)
        let upstream = try SampleUpstream()
        let upstreamBound = try await upstream.start(port: upstreamPort)
        let configFile = try DemoState.writeConfig(state: state, port: port, adminPort: adminPort, upstreamPort: upstreamBound, issuer: Self.issuer)
        let runtime = try await GatewayRuntime(configFile: configFile, logger: Logger(label: "fhirgate"))
        let gateway = Gateway(runtime: runtime)
        Task {
            for _ in 0..<100 where gateway.port == nil { try? await Task.sleep(for: .milliseconds(50)) }
            let text = try DemoState.examples(state: state, port: port, adminPort: adminPort, key: keys, issuer: Self.issuer)
            FileHandle.standardOutput.write(Data(text.utf8))
        }
        logger.info("demo state in \(state); Ctrl-C stops")
        try await GatewayRunner.run(gateway, logger: logger)
    }
}

/// The demo's files, made once and reused.
enum DemoState {
    static func prepare(_ state: String) throws -> DevSigningKey {
        let fm = FileManager.default
        try fm.createDirectory(atPath: state, withIntermediateDirectories: true)
        if !fm.fileExists(atPath: state + "/server.pem") {
            try DevPKI.generate().write(to: state)
        }
        let keyFile = state + "/signing-key.pem"
        let key: DevSigningKey
        if let pem = try? String(contentsOfFile: keyFile, encoding: .utf8) {
            key = try DevSigningKey(pem: pem)
        } else {
            key = DevSigningKey()
            try key.key.pemRepresentation.write(toFile: keyFile, atomically: true, encoding: .utf8)
            chmod(keyFile, 0o600)
        }
        try key.jwksJSON.write(toFile: state + "/jwks.json", atomically: true, encoding: .utf8)
        return key
    }

    static func writeConfig(state: String, port: Int, adminPort: Int, upstreamPort: Int, issuer: String) throws -> String {
        let cwd = FileManager.default.currentDirectoryPath
        func policy(_ name: String) -> String {
            let path = cwd + "/Policies/" + name
            return FileManager.default.fileExists(atPath: path) ? "\n    policy: \"\(path)\"" : ""
        }
        let yaml = """
        # Written by `fhirgate demo`; edited copies are overwritten on the next run.
        server:
          listen: "127.0.0.1:\(port)"
          tls: { certificate: server.pem, private_key: server-key.pem, min_version: "1.2" }
          limits: { max_header_bytes: 16384, max_body_bytes: 10485760, header_timeout_seconds: 10, idle_timeout_seconds: 60 }
        admin:
          listen: "127.0.0.1:\(adminPort)"
        auth:
          issuers:
            - issuer: "\(issuer)"
              jwks_file: jwks.json
          clock_skew_seconds: 60
        audit:
          path: audit.jsonl
        routes:
          - name: patient-facing
            base_url: "https://localhost:\(port)/patient/r4"
            upstream: "http://127.0.0.1:\(upstreamPort)/fhir"\(policy("g10-patient-facing.yaml"))
            upstream_authorization: strip
          - name: provider-facing
            base_url: "https://localhost:\(port)/provider/r4"
            upstream: "http://127.0.0.1:\(upstreamPort)/fhir"\(policy("g10-provider-facing.yaml"))
            upstream_authorization: strip
          - name: backend
            base_url: "https://localhost:\(port)/backend/r4"
            upstream: "http://127.0.0.1:\(upstreamPort)/fhir"\(policy("bulk-export.yaml"))
            upstream_authorization: strip

        """
        let file = state + "/gateway.yaml"
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    static func examples(state: String, port: Int, adminPort: Int, key: DevSigningKey, issuer: String) throws -> String {
        let patientBase = "https://localhost:\(port)/patient/r4"
        let providerBase = "https://localhost:\(port)/provider/r4"
        let backendBase = "https://localhost:\(port)/backend/r4"
        let patientToken = try key.accessToken(issuer: issuer, audience: patientBase,
                                               scope: "launch/patient openid fhirUser patient/Patient.rs patient/Observation.rs patient/Condition.rs patient/Practitioner.rs",
                                               patient: "pat-a", clientID: "demo-patient-app")
        let labsOnly = try key.accessToken(issuer: issuer, audience: patientBase,
                                           scope: "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory",
                                           patient: "pat-a", clientID: "demo-labs-app")
        let provider = try key.accessToken(issuer: issuer, audience: providerBase, scope: "openid fhirUser user/*.rs",
                                           clientID: "demo-clinician-app", subject: "dr-chen", fhirUser: "Practitioner/prac-1")
        let system = try key.accessToken(issuer: issuer, audience: backendBase, scope: "system/*.rs", clientID: "demo-backend", subject: "demo-backend",
                                         lifetime: 300)
        let curl = "curl -s --cacert \(state)/ca.pem"
        return """

        FHIRGate demo is up.
          gateway        https://localhost:\(port)  (patient-facing /patient/r4, provider-facing /provider/r4, backend /backend/r4)
          admin          http://127.0.0.1:\(adminPort)/metrics  /readyz  /healthz
          audit log      \(state)/audit.jsonl   (tail -f it in another terminal)
          dev CA         \(state)/ca.pem
        Tokens below are signed by the demo authorization server key and valid for one hour
        (backend token: five minutes). Mint more with: fhirgate token --help
        Paste the four TOKEN_ lines into your shell first, then any of the curls.

        TOKEN_PATIENT='\(patientToken)'
        TOKEN_LABS='\(labsOnly)'
        TOKEN_PROVIDER='\(provider)'
        TOKEN_SYSTEM='\(system)'

        # 1. Public capability statement, no token -> 200 CapabilityStatement
        \(curl) \(patientBase)/metadata

        # 2. Patient app reads its own patient (pat-a) -> 200 Patient
        \(curl) -H "Authorization: Bearer $TOKEN_PATIENT" \(patientBase)/Patient/pat-a

        # 3. Patient app searches Observations with no patient parameter -> 200 Bundle of pat-a's data only
        #    (the gateway adds patient=Patient/pat-a)
        \(curl) -H "Authorization: Bearer $TOKEN_PATIENT" '\(patientBase)/Observation'

        # 4. DENIED: patient app asks for another patient's data -> 403 OperationOutcome (forbidden)
        \(curl) -i -H "Authorization: Bearer $TOKEN_PATIENT" '\(patientBase)/Observation?patient=pat-b'

        # 5. DENIED: reading another patient's Observation by id -> 404, same as a missing id
        \(curl) -i -H "Authorization: Bearer $TOKEN_PATIENT" \(patientBase)/Observation/obs-vital-pat-b

        # 6. Labs-only (granular scope) token -> only laboratory Observations come back
        \(curl) -H "Authorization: Bearer $TOKEN_LABS" '\(patientBase)/Observation'

        # 7. Provider (user/*.rs) searches any patient -> 200 Bundle for pat-b
        \(curl) -H "Authorization: Bearer $TOKEN_PROVIDER" '\(providerBase)/Condition?patient=pat-b'

        # 8. DENIED: no token -> 401 with WWW-Authenticate: Bearer realm=...
        \(curl) -i \(patientBase)/Patient/pat-a

        # 9. DENIED: provider token on the patient-facing base (wrong audience) -> 401 invalid_token
        \(curl) -i -H "Authorization: Bearer $TOKEN_PROVIDER" \(patientBase)/Patient/pat-a

        # 10. Backend service (system/*.rs) reads a Practitioner on the backend route -> 200
        \(curl) -H "Authorization: Bearer $TOKEN_SYSTEM" \(backendBase)/Practitioner/prac-1

        # 11. Backend service starts a Bulk Data export of Group grp-1 -> 202 with
        #     Content-Location: \(backendBase)/$export-status/<job id>
        \(curl) -i -H "Authorization: Bearer $TOKEN_SYSTEM" -H "Prefer: respond-async" -H "Accept: application/fhir+json" '\(backendBase)/Group/grp-1/$export?_type=Patient,Observation'
        #     Poll that URL with the same token (202 + X-Progress, then 200 with the manifest), then
        #     download each output URL (gateway URLs only; other clients get 404):
        #     \(curl) -H "Authorization: Bearer $TOKEN_SYSTEM" '<Content-Location>'

        # Audit trail of all of the above:
        tail -n 10 \(state)/audit.jsonl

        """
    }
}
