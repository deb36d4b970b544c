import Foundation
import JWTKit

/// An immutable set of verification keys of one issuer, keyed by `kid`. Each key sits
/// in a collection of its own with its algorithm pinned, so jwt-kit can never fall back
/// to another key or take the algorithm from a token.
struct JWKSSnapshot: Sendable {
    struct Key: Sendable {
        let algorithm: String
        let collection: JWTKeyCollection
    }

    let keys: [String: Key]
    let fetchedAt: Date
    /// The server's `Cache-Control: max-age`, if it sent one.
    var maxAge: TimeInterval?

    static let empty = JWKSSnapshot(keys: [:], fetchedAt: .distantPast)

    /// Builds a snapshot key by key: one unusable key (`oct`, `use: enc`, unknown type)
    /// is skipped instead of failing the whole set; a set left with none is refused.
    static func make(jwksJSON: Data, settings: IssuerSettings) async throws -> JWKSSnapshot {
        guard let object = try JSONSerialization.jsonObject(with: jwksJSON) as? [String: Any],
              let list = object["keys"] as? [[String: Any]] else { throw TokenFailure.jwksUnreadable }
        var keys: [String: Key] = [:]
        for var jwk in list {
            guard let kid = jwk["kid"] as? String, !kid.isEmpty, (jwk["use"] as? String ?? "sig") == "sig",
                  let kty = jwk["kty"] as? String else { continue }
            let algorithm: String
            if let alg = jwk["alg"] as? String {
                algorithm = alg
            } else {
                switch (kty, jwk["crv"] as? String) {
                case ("EC", "P-256"): algorithm = "ES256"
                case ("EC", "P-384"): algorithm = "ES384"
                case ("RSA", _): algorithm = settings.rsaAlgorithm
                case ("OKP", "Ed25519"): algorithm = "EdDSA"
                default: continue
                }
                jwk["alg"] = algorithm
            }
            guard settings.algorithms.contains(algorithm), Self.keyType(for: algorithm) == kty else { continue }
            do {
                let data = try JSONSerialization.data(withJSONObject: jwk)
                let parsed = try JSONDecoder().decode(JWK.self, from: data)
                let collection = JWTKeyCollection()
                try await collection.add(jwk: parsed)
                keys[kid] = Key(algorithm: algorithm, collection: collection)
            } catch {
                continue
            }
        }
        // A set with no usable key is a broken answer, not a rotation to nothing: the last
        // good keys stay (an issuer that signs tokens always publishes a key).
        guard !keys.isEmpty else { throw TokenFailure.jwksUnreadable }
        return JWKSSnapshot(keys: keys, fetchedAt: Date())
    }

    static func keyType(for algorithm: String) -> String? {
        switch algorithm {
        case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512": "RSA"
        case "ES256", "ES384", "ES512": "EC"
        case "EdDSA": "OKP"
        default: nil
        }
    }
}
