import AsyncHTTPClient
import FHIRGateAuth
import Foundation
import NIOCore
import NIOSSL

/// One consistent, immutable set of everything a request needs: config, routes with
/// their policies and pools, token verifier, TLS context. Built completely (and so
/// validated) before it replaces the current one; a request reads one snapshot from
/// start to end, so in-flight requests finish under the set they started with.
final class GatewaySnapshot: Sendable {
    let config: GatewayConfig
    let routes: [RouteRuntime]
    let verifier: TokenVerifier
    let sslContext: NIOSSLContext?
    let loadedAt: Date

    init(config: GatewayConfig, policies: [String: PolicyFile], group: any EventLoopGroup, jwksClient: HTTPClient) throws {
        self.config = config
        // What can fail without leaving anything to undo comes first (a certificate that
        // does not load must not leave connection pools behind).
        sslContext = try config.server.tls.map { try Self.makeSSLContext($0, http2: config.server.http2) }
        var built: [RouteRuntime] = []
        do {
            for route in config.routes {
                built.append(try RouteRuntime(settings: route, policy: route.policyFile.flatMap { policies[$0] }, group: group))
            }
        } catch {
            // The pools already made are shut down, not dropped.
            for route in built { route.upstream.shutdown() }
            throw error
        }
        routes = built
        verifier = TokenVerifier(issuers: config.auth.issuers, clockSkewSeconds: config.auth.clockSkewSeconds, httpClient: jwksClient)
        loadedAt = Date()
    }

    /// TLS 1.2+ (1.3 when configured), ECDHE with AEAD ciphers only, ALPN h2 (unless
    /// `server.http2: false`) and http/1.1.
    static func makeSSLContext(_ tls: ServerSettings.TLSSettings, http2: Bool) throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMFile(tls.certificate).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: tls.privateKey, format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = tls.minVersion == "1.3" ? .tlsv13 : .tlsv12
        configuration.cipherSuiteValues = [
            .TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, .TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            .TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, .TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            .TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, .TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ]
        configuration.applicationProtocols = http2 ? ["h2", "http/1.1"] : ["http/1.1"]
        return try NIOSSLContext(configuration: configuration)
    }

    func shutdownClients() async {
        for route in routes { route.upstream.shutdown() }
    }
}
