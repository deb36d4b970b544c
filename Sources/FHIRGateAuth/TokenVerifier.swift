import AsyncHTTPClient
import Crypto
import FHIRGateCore
import Foundation
import JWTKit

/// Validates bearer JWTs against the configured issuers and turns them into an
/// `AccessToken`. Exactly the tokens valid for this resource server pass.
public final class TokenVerifier: Sendable {
    let issuers: [String: (settings: IssuerSettings, keys: IssuerKeyStore)]
    let clockSkew: Double
    let cache: VerifiedTokenCache
    /// Introspection clients in config order; an opaque token goes to the first.
    let introspectors: [IntrospectionClient]

    public init(issuers: [IssuerSettings], clockSkewSeconds: Double = 60, httpClient: HTTPClient?,
                cacheCapacity: Int = 10_000, minimumRefreshInterval: TimeInterval = 30) {
        var map: [String: (IssuerSettings, IssuerKeyStore)] = [:]
        for issuer in issuers {
            map[issuer.issuer] = (issuer, IssuerKeyStore(settings: issuer, httpClient: httpClient, minimumRefreshInterval: minimumRefreshInterval))
        }
        self.issuers = map
        introspectors = httpClient.map { client in
            issuers.compactMap { issuer in issuer.introspection.map { IntrospectionClient(settings: $0, issuer: issuer, httpClient: client) } }
        } ?? []
        clockSkew = clockSkewSeconds
        cache = VerifiedTokenCache(capacity: cacheCapacity)
    }

    /// Fetches every issuer's keys once (start-up, reload).
    public func loadKeys() async {
        for (_, entry) in issuers { await entry.keys.load() }
    }

    /// Refreshes the keys of every issuer that is due (call periodically).
    public func refreshDueKeys() async {
        for (_, entry) in issuers { await entry.keys.refreshIfDue() }
    }

    /// Per issuer: whether its keys are usable (metrics).
    public func keyHealth() async -> [(issuer: String, healthy: Bool)] {
        var out: [(String, Bool)] = []
        for (name, entry) in issuers { out.append((name, await entry.keys.isHealthy)) }
        return out
    }

    /// Whether every issuer has usable keys (for `/readyz`).
    public func keysHealthy() async -> Bool {
        for (_, entry) in issuers where !(await entry.keys.isHealthy) { return false }
        return true
    }

    /// How many JWKS fetches have been made (metrics and tests).
    public func jwksFetchCount() async -> Int {
        var n = 0
        for (_, entry) in issuers { n += await entry.keys.fetchCount }
        return n
    }

    public static func tokenHash(_ token: String) -> String {
        String(cacheKey(token).prefix(16))
    }

    /// SHA-256 of the token, in hex: the verified-token cache's key (no copy of the token).
    static func cacheKey(_ token: String) -> String {
        var token = token
        return token.withUTF8 { Hex.encode(SHA256.hash(data: UnsafeRawBufferPointer($0))) }
    }

    /// Verifies `token` for a route whose public base URL is `audience`.
    public func verify(_ token: String, audience: String, now: Date = Date()) async throws(TokenFailure) -> AccessToken {
        let nowSeconds = now.timeIntervalSince1970
        let key = Self.cacheKey(token)
        if let hit = cache.get(key) {
            // A cached token skips the signature, never the time and audience checks.
            guard hit.token.expiresAt + clockSkew > nowSeconds else { throw .expired }
            if let nbf = hit.notBefore, nbf - clockSkew > nowSeconds { throw .notYetValid }
            guard hit.audiences.contains(audience) else { throw .wrongAudience }
            return hit.token
        }

        guard let jwt = CompactJWT(token) else {
            // Not a JWT: an opaque token, known only to the issuer's introspection endpoint.
            guard let introspector = introspectors.first else { throw .malformed }
            let claims = try await introspector.introspect(token, key: key, now: nowSeconds)
            return try accessToken(from: claims, issuer: introspector.issuer, key: key, now: nowSeconds, audience: audience, requireAudience: false,
                                   cache: false)
        }
        let header = jwt.header
        let claims = jwt.claims
        for forbidden in ["jku", "x5u", "jwk", "x5c"] where header[forbidden] != nil { throw .forbiddenHeader(forbidden) }
        if header["crit"] != nil { throw .forbiddenHeader("crit") }
        guard let iss = claims["iss"] as? String, let issuer = issuers[iss] else { throw .unknownIssuer }
        guard let alg = header["alg"] as? String, alg != "none", issuer.settings.algorithms.contains(alg) else { throw .algorithmNotAllowed }
        if issuer.settings.requireATJWT {
            let typ = (header["typ"] as? String)?.lowercased()
            guard typ == "at+jwt" || typ == "application/at+jwt" else { throw .notAnAccessToken }
        }
        guard let kid = header["kid"] as? String, !kid.isEmpty else { throw .missingKeyID }
        let verificationKey = try await issuer.keys.key(for: kid)
        guard verificationKey.algorithm == alg else { throw .algorithmNotAllowed }
        do {
            _ = try await verificationKey.collection.verify(token, as: SignatureOnlyPayload.self)
        } catch {
            throw .badSignature
        }

        return try accessToken(from: claims, issuer: issuer.settings, key: key, now: nowSeconds, audience: audience, requireAudience: true, cache: true)
    }

    /// Checks the claims (of a verified JWT or an introspection answer) and builds the
    /// `AccessToken`. Claims are checked here, never by jwt-kit.
    func accessToken(from claims: [String: Any], issuer settings: IssuerSettings, key: String, now nowSeconds: Double, audience: String,
                     requireAudience: Bool, cache shouldCache: Bool) throws(TokenFailure) -> AccessToken {
        guard let exp = Self.number(claims["exp"]) else { throw .missingExpiry }
        guard exp + clockSkew > nowSeconds else { throw .expired }
        let nbf = Self.number(claims["nbf"])
        if let nbf, nbf - clockSkew > nowSeconds { throw .notYetValid }
        let iat = Self.number(claims["iat"])
        if let iat, iat - clockSkew > nowSeconds { throw .issuedInFuture }
        if let maxLifetime = settings.maxLifetimeSeconds {
            guard let iat, exp - iat <= maxLifetime else { throw .lifetimeTooLong }
        }
        if claims["nonce"] != nil { throw .notAnAccessToken }
        let audiences: [String]
        if let a = claims["aud"] as? String { audiences = [a] } else { audiences = (claims["aud"] as? [Any])?.compactMap { $0 as? String } ?? [] }
        // Introspection answers may leave `aud` out; when present it must name us.
        if requireAudience || !audiences.isEmpty {
            guard audiences.contains(audience) else { throw .wrongAudience }
        }

        let scopeList: [String]
        if let s = claims["scope"] as? String {
            scopeList = s.split(separator: " ").map(String.init)
        } else {
            scopeList = (claims["scp"] as? [Any])?.compactMap { $0 as? String } ?? []
        }
        let access = AccessToken(
            issuer: settings.issuer,
            subject: claims["sub"] as? String,
            clientID: (claims["client_id"] as? String) ?? (claims["azp"] as? String),
            scopes: GrantedScopes(list: scopeList),
            patient: claims[settings.patientClaim] as? String,
            fhirUser: claims[settings.fhirUserClaim] as? String,
            encounter: claims[settings.encounterClaim] as? String,
            tokenID: claims["jti"] as? String,
            expiresAt: exp,
            tokenHash: String(key.prefix(16))
        )
        if shouldCache {
            cache.put(key, .init(token: access, audiences: requireAudience ? audiences : [audience], notBefore: nbf, lastUsed: 0))
        }
        return access
    }

    static func number(_ value: Any?) -> Double? {
        // `true` decodes as 1 on Linux: as an `exp` that is long past, so harmless.
        (value as? NSNumber)?.doubleValue
    }
}

/// jwt-kit needs a payload type; claims are checked by `TokenVerifier` itself.
struct SignatureOnlyPayload: JWTPayload {
    init(from decoder: any Decoder) throws {}
    func encode(to encoder: any Encoder) throws {}
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}
