import Crypto
import Foundation

/// A development ES256 signing key standing in for the clinic's authorization server:
/// it publishes a JWKS and mints SMART access tokens. Demo and tests only.
public struct DevSigningKey: Sendable {
    public let key: P256.Signing.PrivateKey
    public let kid: String

    public init(key: P256.Signing.PrivateKey = .init(), kid: String = "dev-es256-1") {
        self.key = key
        self.kid = kid
    }

    public init(pem: String, kid: String = "dev-es256-1") throws {
        key = try P256.Signing.PrivateKey(pemRepresentation: pem)
        self.kid = kid
    }

    public var jwksJSON: String {
        let raw = key.publicKey.rawRepresentation
        let x = Self.base64url(raw.prefix(32))
        let y = Self.base64url(raw.suffix(32))
        return "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"use\":\"sig\",\"alg\":\"ES256\",\"kid\":\"\(kid)\",\"x\":\"\(x)\",\"y\":\"\(y)\"}]}"
    }

    /// Signs `claims` as a compact JWS with this key.
    public func sign(claims: [String: Any], header extra: [String: Any] = [:]) throws -> String {
        var header: [String: Any] = ["alg": "ES256", "typ": "at+jwt", "kid": kid]
        for (k, v) in extra { header[k] = v }
        let h = Self.base64url(try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
        let c = Self.base64url(try JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys]))
        let signingInput = h + "." + c
        let signature = try key.signature(for: Data(signingInput.utf8))
        return signingInput + "." + Self.base64url(signature.rawRepresentation)
    }

    /// A SMART access token with the usual claims.
    public func accessToken(issuer: String, audience: String, scope: String, patient: String? = nil, clientID: String = "demo-app",
                            subject: String = "demo-user", fhirUser: String? = nil, lifetime: TimeInterval = 3600) throws -> String {
        let now = Date().timeIntervalSince1970.rounded(.down)
        var claims: [String: Any] = ["iss": issuer, "aud": audience, "scope": scope, "client_id": clientID, "sub": subject,
                                     "iat": now, "exp": now + lifetime, "jti": UUID().uuidString]
        if let patient { claims["patient"] = patient }
        if let fhirUser { claims["fhirUser"] = fhirUser }
        return try sign(claims: claims)
    }

    public static func base64url(_ data: some DataProtocol) -> String {
        Data(data).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
