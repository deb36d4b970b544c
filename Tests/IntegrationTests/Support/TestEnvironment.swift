import FHIRGateDemo
import Foundation
import NIOCore
import NIOPosix

/// A temporary folder with real credentials made at test time: a dev CA and server
/// certificate, a signing key and its JWKS. Removed when the test ends.
final class TestEnvironment: @unchecked Sendable {
    let directory: String
    let pki: DevPKI
    let signingKey: DevSigningKey
    static let issuer = "https://auth.test.fhirgate.local"

    init() throws {
        directory = NSTemporaryDirectory() + "fhirgate-test-" + UUID().uuidString.prefix(8)
        pki = try DevPKI.generate()
        try pki.write(to: directory)
        signingKey = DevSigningKey()
        try signingKey.jwksJSON.write(toFile: directory + "/jwks.json", atomically: true, encoding: .utf8)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func token(base: String, scope: String, patient: String? = nil, client: String = "test-app") throws -> String {
        try signingKey.accessToken(issuer: Self.issuer, audience: base, scope: scope, patient: patient, clientID: client)
    }

    /// A loopback port nobody listens on right now.
    static func freePort() throws -> Int {
        let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).wait()
        let port = channel.localAddress!.port!
        try channel.close().wait()
        return port
    }

    struct Options {
        var maxBodyBytes = 1_048_576
        var maxHeaderBytes = 8192
        var headerTimeout = 1.0
        var idleTimeout = 5.0
        var readTimeout = 1.5
        var drainTimeout = 10.0
        var minTLS = "1.2"
        var upstreamOverride: String?
        /// The base the sample upstream writes in its answers, configured as the route's
        /// `upstream_advertised_base`.
        var advertisedBase: String?
        var extraTopLevel = ""
        /// Policy file text for the route.
        var policy: String?
        var redis: String?
        var onRedisError = "local"
        var bodyTimeout = 30.0
        var sendTimeout = 60.0
        var maxConnections = 20_000
        var maxConnectionsPerIP = 20_000
        /// `server.http2` (nil: the default, on).
        var http2: Bool?
        /// A signal the test harness sends the moment the gateway reports it is listening.
        var signalWhenListening: Int32?
    }

    /// A gateway config with one route (`/r4`) to `upstreamPort`.
    func writeConfig(port: Int, adminPort: Int, upstreamPort: Int, options: Options = Options(), file: String = "gateway.yaml") throws -> String {
        let upstream = options.upstreamOverride ?? "http://127.0.0.1:\(upstreamPort)/fhir"
        var policyLine = ""
        if let policy = options.policy {
            try policy.write(toFile: directory + "/policy.yaml", atomically: true, encoding: .utf8)
            policyLine = "\n    policy: policy.yaml"
        }
        let rateLimit = options.redis.map { "rate_limit:\n  redis: \"\($0)\"\n  on_redis_error: \(options.onRedisError)\n" } ?? ""
        let yaml = """
        server:
          listen: "127.0.0.1:\(port)"
          tls: { certificate: server.pem, private_key: server-key.pem, min_version: "\(options.minTLS)" }
          limits:
            max_header_bytes: \(options.maxHeaderBytes)
            max_body_bytes: \(options.maxBodyBytes)
            header_timeout_seconds: \(options.headerTimeout)
            idle_timeout_seconds: \(options.idleTimeout)
            body_timeout_seconds: \(options.bodyTimeout)
            send_timeout_seconds: \(options.sendTimeout)
            max_connections: \(options.maxConnections)
            max_connections_per_ip: \(options.maxConnectionsPerIP)
          drain_timeout_seconds: \(options.drainTimeout)\(options.http2.map { "\n  http2: \($0)" } ?? "")
        admin:
          listen: "127.0.0.1:\(adminPort)"
        auth:
          issuers:
            - issuer: "\(Self.issuer)"
              jwks_file: jwks.json
        \(rateLimit)audit:
          path: audit.jsonl
          fsync: never
        routes:
          - name: main
            base_url: "https://localhost:\(port)/r4"
            upstream: "\(upstream)"\(options.advertisedBase.map { "\n    upstream_advertised_base: \"\($0)\"" } ?? "")
            upstream_authorization: strip
            connect_timeout_seconds: 1
            read_timeout_seconds: \(options.readTimeout)\(policyLine)
        \(options.extraTopLevel)
        """
        let path = directory + "/" + file
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    var auditLines: [String] {
        ((try? String(contentsOfFile: directory + "/audit.jsonl", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }
}
