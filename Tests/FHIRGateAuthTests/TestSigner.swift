import Crypto
import _CryptoExtras
import FHIRGateTestSupport
import Foundation

/// Real keys made at test time, signing real JWTs — including the broken ones a
/// gateway must refuse.
struct TestSigner: @unchecked Sendable {
    enum Key {
        case rsa(_RSA.Signing.PrivateKey)
        case p256(P256.Signing.PrivateKey)
        case p384(P384.Signing.PrivateKey)
    }

    let algorithm: String
    let kid: String
    let key: Key

    static func make(_ algorithm: String, kid: String? = nil) throws -> TestSigner {
        let kid = kid ?? "\(algorithm.lowercased())-\(UUID().uuidString.prefix(6))"
        switch algorithm {
        case "RS256", "RS384": return TestSigner(algorithm: algorithm, kid: kid, key: .rsa(try _RSA.Signing.PrivateKey(keySize: .bits2048)))
        case "ES256": return TestSigner(algorithm: algorithm, kid: kid, key: .p256(P256.Signing.PrivateKey()))
        default: return TestSigner(algorithm: algorithm, kid: kid, key: .p384(P384.Signing.PrivateKey()))
        }
    }

    /// The public key as a JWK (with or without `alg`).
    func jwk(includeAlg: Bool = true) throws -> [String: Any] {
        var jwk: [String: Any] = ["kid": kid, "use": "sig"]
        if includeAlg { jwk["alg"] = algorithm }
        switch key {
        case .rsa(let k):
            let p = try k.publicKey.getKeyPrimitives()
            jwk["kty"] = "RSA"
            jwk["n"] = b64(p.modulus)
            jwk["e"] = b64(p.publicExponent)
        case .p256(let k):
            let raw = k.publicKey.rawRepresentation
            jwk["kty"] = "EC"; jwk["crv"] = "P-256"; jwk["x"] = b64(raw.prefix(32)); jwk["y"] = b64(raw.suffix(32))
        case .p384(let k):
            let raw = k.publicKey.rawRepresentation
            jwk["kty"] = "EC"; jwk["crv"] = "P-384"; jwk["x"] = b64(raw.prefix(48)); jwk["y"] = b64(raw.suffix(48))
        }
        return jwk
    }

    var rsaPublicPEM: String? {
        if case .rsa(let k) = key { return k.publicKey.pemRepresentation }
        return nil
    }

    func sign(_ claims: [String: Any], header: [String: Any] = [:], omitKid: Bool = false) throws -> String {
        var h: [String: Any] = ["alg": algorithm, "typ": "at+jwt"]
        if !omitKid { h["kid"] = kid }
        for (k, v) in header { h[k] = v }
        let input = b64(try JSONSerialization.data(withJSONObject: h, options: .sortedKeys)) + "." + b64(try JSONSerialization.data(withJSONObject: claims, options: .sortedKeys))
        return input + "." + b64(try signature(Data(input.utf8)))
    }

    func signature(_ data: Data) throws -> Data {
        switch key {
        case .rsa(let k):
            return algorithm == "RS384"
                ? try k.signature(for: SHA384.hash(data: data), padding: .insecurePKCS1v1_5).rawRepresentation
                : try k.signature(for: SHA256.hash(data: data), padding: .insecurePKCS1v1_5).rawRepresentation
        case .p256(let k): return try k.signature(for: data).rawRepresentation
        case .p384(let k): return try k.signature(for: data).rawRepresentation
        }
    }

    static func jwks(_ signers: [TestSigner]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: ["keys": try signers.map { try $0.jwk() }]), as: UTF8.self)
    }
}

func b64(_ data: some DataProtocol) -> String {
    Data(data).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
}

/// A JWKS endpoint on loopback whose content and health the test controls.
final class JWKSServer: @unchecked Sendable {
    private let lock = NSLock()
    private var body: String
    private var failing = false
    private var fetches = 0
    private var channel: (any Channel)?
    private(set) var port = 0

    init(jwks: String) { body = jwks }

    func set(jwks: String) { lock.withLock { body = jwks } }
    func set(failing: Bool) { lock.withLock { self.failing = failing } }
    var fetchCount: Int { lock.withLock { fetches } }
    var url: String { "http://127.0.0.1:\(port)/jwks" }

    func start() async throws {
        (port, channel) = try await startLoopbackHTTPServer { [self] connection in try await self.serve(connection) }
    }

    func stop() async { try? await channel?.close() }

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async throws {
        try await connection.executeThenClose { inbound, outbound in
            for try await part in inbound {
                guard case .end = part else { continue }
                let (text, fail) = lock.withLock { () -> (String, Bool) in
                    fetches += 1
                    return (body, failing)
                }
                try await Task.sleep(for: .milliseconds(20)) // a slow AS makes bursts overlap
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: "application/json")
                headers.add(name: "Content-Length", value: String(fail ? 5 : text.utf8.count))
                try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: fail ? .internalServerError : .ok, headers: headers)))
                try await outbound.write(.body(.byteBuffer(ByteBuffer(string: fail ? "error" : text))))
                try await outbound.write(.end(nil))
            }
        }
    }
}

import NIOCore
import NIOHTTP1
import NIOPosix
