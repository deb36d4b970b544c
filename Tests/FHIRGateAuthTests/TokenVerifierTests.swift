import AsyncHTTPClient
import Crypto
import Foundation
import NIOPosix
import Testing
@testable import FHIRGateAuth
@testable import FHIRGateCore

/// Tokens signed with real RSA and EC keys made at test time, verified against a real
/// JWKS endpoint on loopback.
@Suite(.serialized) struct TokenVerifierTests {
    static let issuer = "https://as.test.example"
    static let audience = "https://gw.test.example/r4"

    func claims(_ overrides: [String: Any] = [:], removing: [String] = []) -> [String: Any] {
        let now = Date().timeIntervalSince1970.rounded(.down)
        var c: [String: Any] = ["iss": Self.issuer, "aud": Self.audience, "exp": now + 600, "iat": now, "sub": "u1",
                                "client_id": "app1", "scope": "patient/Observation.rs openid", "patient": "p1", "jti": UUID().uuidString]
        for (k, v) in overrides { c[k] = v }
        for k in removing { c.removeValue(forKey: k) }
        return c
    }

    /// A verifier whose one issuer's keys come from `server`.
    func withVerifier(_ signers: [TestSigner], algorithms: Set<String> = IssuerSettings.defaultAlgorithms, refreshInterval: TimeInterval = 30,
                      adjust: (inout IssuerSettings) -> Void = { _ in },
                      _ body: (TokenVerifier, JWKSServer) async throws -> Void) async throws {
        let server = JWKSServer(jwks: try TestSigner.jwks(signers))
        try await server.start()
        let client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        var settings = IssuerSettings(issuer: Self.issuer, keySource: .jwksURI(server.url), algorithms: algorithms)
        adjust(&settings)
        let verifier = TokenVerifier(issuers: [settings],
                                     clockSkewSeconds: 30, httpClient: client, minimumRefreshInterval: refreshInterval)
        await verifier.loadKeys()
        do {
            try await body(verifier, server)
        } catch {
            try? await client.shutdown()
            await server.stop()
            throw error
        }
        try? await client.shutdown()
        await server.stop()
    }

    func refused(_ verifier: TokenVerifier, _ token: String, audience: String = audience) async -> TokenFailure? {
        do {
            _ = try await verifier.verify(token, audience: audience)
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: ["RS256", "RS384", "ES256", "ES384"])
    func validTokensPass(_ algorithm: String) async throws {
        let signer = try TestSigner.make(algorithm)
        try await withVerifier([signer]) { verifier, _ in
            let token = try signer.sign(claims())
            let access = try await verifier.verify(token, audience: Self.audience)
            #expect(access.patient == "p1")
            #expect(access.clientID == "app1")
            #expect(access.scopes.scopes.count == 1)
            #expect(access.tokenHash.count == 16)
        }
    }

    @Test func eachBrokenTokenIsRefused() async throws {
        let rsa = try TestSigner.make("RS256")
        let ec = try TestSigner.make("ES256")
        let stranger = try TestSigner.make("ES256", kid: ec.kid) // same kid, other key
        try await withVerifier([rsa, ec]) { verifier, _ in
            let now = Date().timeIntervalSince1970
            let good = try rsa.sign(claims())
            let parts = good.split(separator: ".").map(String.init)
            var cases: [(String, String, TokenFailure?)] = [
                ("expired", try rsa.sign(claims(["exp": now - 120])), .expired),
                ("not yet valid", try rsa.sign(claims(["nbf": now + 600])), .notYetValid),
                ("issued in the future", try rsa.sign(claims(["iat": now + 600])), .issuedInFuture),
                ("missing exp", try rsa.sign(claims(removing: ["exp"])), .missingExpiry),
                ("wrong iss", try rsa.sign(claims(["iss": "https://as.evil.example"])), .unknownIssuer),
                ("aud for another base", try rsa.sign(claims(["aud": "https://gw.test.example/other"])), .wrongAudience),
                ("aud a prefix of ours", try rsa.sign(claims(["aud": "https://gw.test.example/r"])), .wrongAudience),
                ("aud ours plus a suffix", try rsa.sign(claims(["aud": "https://gw.test.example/r4/x"])), .wrongAudience),
                ("aud array without ours", try rsa.sign(claims(["aud": ["https://a", "https://b"]])), .wrongAudience),
                ("tampered payload", parts[0] + "." + b64(try JSONSerialization.data(withJSONObject: claims(["scope": "user/*.cruds"]))) + "." + parts[2], .badSignature),
                ("tampered signature", parts[0] + "." + parts[1] + "." + String(parts[2].dropLast(4)) + "AAAA", .badSignature),
                ("alg none", b64(Data(#"{"alg":"none","kid":"\#(rsa.kid)"}"#.utf8)) + "." + parts[1] + ".", .malformed),
                ("alg none with signature", b64(Data(#"{"alg":"none","kid":"\#(rsa.kid)"}"#.utf8)) + "." + parts[1] + "." + parts[2], .algorithmNotAllowed),
                ("header alg differs from key", try rsa.sign(claims(), header: ["alg": "RS384"]), .algorithmNotAllowed),
                ("unknown kid", try rsa.sign(claims(), header: ["kid": "nope"]), .unknownKeyID),
                ("no kid", try rsa.sign(claims(), omitKid: true), .missingKeyID),
                ("jku elsewhere", try rsa.sign(claims(), header: ["jku": "https://evil.example/jwks"]), .forbiddenHeader("jku")),
                ("x5u elsewhere", try rsa.sign(claims(), header: ["x5u": "https://evil.example/cert"]), .forbiddenHeader("x5u")),
                ("embedded jwk", try rsa.sign(claims(), header: ["jwk": try ec.jwk()]), .forbiddenHeader("jwk")),
                ("crit", try rsa.sign(claims(), header: ["crit": ["exp"]]), .forbiddenHeader("crit")),
                ("ID token (nonce)", try rsa.sign(claims(["nonce": "n-0S6_WzA2Mj"])), .notAnAccessToken),
                ("other key, same kid", try stranger.sign(claims()), .badSignature),
                ("garbage", "not.a.jwt", .malformed),
                ("two parts", parts[0] + "." + parts[1], .malformed),
            ]
            // HS256 "signed" with the RSA public key as the HMAC secret (key confusion).
            let pem = try #require(rsa.rsaPublicPEM)
            let hsHeader = b64(Data(#"{"alg":"HS256","kid":"\#(rsa.kid)","typ":"JWT"}"#.utf8))
            let mac = HMAC<SHA256>.authenticationCode(for: Data((hsHeader + "." + parts[1]).utf8), using: SymmetricKey(data: Data(pem.utf8)))
            cases.append(("HS256 with the RSA public key", hsHeader + "." + parts[1] + "." + b64(Data(mac)), .algorithmNotAllowed))
            for (name, token, expected) in cases {
                let failure = await refused(verifier, token)
                #expect(failure != nil, "\(name) must be refused")
                if let expected { #expect(failure == expected, "\(name): \(String(describing: failure))") }
            }
            // And the good one still passes.
            #expect(await refused(verifier, good) == nil)
        }
    }

    @Test func cachedTokenStillChecksTimeAndAudience() async throws {
        let signer = try TestSigner.make("ES256")
        try await withVerifier([signer]) { verifier, _ in
            let token = try signer.sign(claims(["exp": Date().timeIntervalSince1970 + 5]))
            _ = try await verifier.verify(token, audience: Self.audience)
            #expect(verifier.cache.count == 1)
            // From the cache: a later clock past exp (+ skew) is refused, as is another audience.
            await #expect(throws: TokenFailure.expired) { _ = try await verifier.verify(token, audience: Self.audience, now: Date().addingTimeInterval(60)) }
            await #expect(throws: TokenFailure.wrongAudience) { _ = try await verifier.verify(token, audience: "https://other/r4") }
        }
    }

    @Test func keyRotationIsPickedUpWithoutRestart() async throws {
        let old = try TestSigner.make("ES256")
        let new = try TestSigner.make("ES256")
        try await withVerifier([old], refreshInterval: 0.05) { verifier, server in
            #expect(await refused(verifier, try! old.sign(claims())) == nil)
            server.set(jwks: try TestSigner.jwks([old, new]))
            try await Task.sleep(for: .milliseconds(100))
            #expect(await refused(verifier, try! new.sign(claims())) == nil)
        }
    }

    @Test func outageKeepsLastGoodKeys() async throws {
        let signer = try TestSigner.make("RS256")
        try await withVerifier([signer], refreshInterval: 0.01) { verifier, server in
            server.set(failing: true)
            // An unknown kid triggers a refresh that fails; the known key keeps working.
            #expect(await refused(verifier, try! signer.sign(claims(), header: ["kid": "rotated-away"])) == .unknownKeyID)
            #expect(await refused(verifier, try! signer.sign(claims())) == nil)
            #expect(await verifier.keysHealthy() == false)
        }
    }

    @Test func junkFromTheJWKSEndpointKeepsLastGoodKeys() async throws {
        let signer = try TestSigner.make("ES256")
        try await withVerifier([signer], refreshInterval: 0.01) { verifier, server in
            for junk in ["not json", #"{"keys": "nope"}"#, #"{"keys": [{"kty": "EC", "crv": "P-256"}]}"#, ""] {
                server.set(jwks: junk)
                #expect(await refused(verifier, try! signer.sign(claims(), header: ["kid": "rotated-away"])) == .unknownKeyID)
                #expect(await refused(verifier, try! signer.sign(claims())) == nil, "junk \(junk.debugDescription) replaced the keys")
            }
        }
    }

    @Test func burstOfUnknownKidsCausesOneFetch() async throws {
        let signer = try TestSigner.make("ES256")
        try await withVerifier([signer], refreshInterval: 1) { verifier, server in
            try await Task.sleep(for: .milliseconds(1100)) // past the start-up fetch's interval
            let before = server.fetchCount
            let token = try signer.sign(claims(), header: ["kid": "unknown-kid"])
            await withTaskGroup(of: TokenFailure?.self) { group in
                for _ in 0..<100 { group.addTask { await refused(verifier, token) } }
                for await failure in group { #expect(failure == .unknownKeyID) }
            }
            #expect(server.fetchCount - before == 1)
            // Within the interval, more unknown kids cause no fetch at all.
            #expect(await refused(verifier, token) == .unknownKeyID)
            #expect(server.fetchCount - before == 1)
        }
    }

    @Test func rsaKeyWithoutAlgIsPinnedByConfigNotByToken() async throws {
        let signer = try TestSigner.make("RS256")
        var jwk = try signer.jwk(includeAlg: false)
        jwk["alg"] = nil
        let server = JWKSServer(jwks: String(decoding: try JSONSerialization.data(withJSONObject: ["keys": [jwk]]), as: UTF8.self))
        try await server.start()
        let client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        let verifier = TokenVerifier(issuers: [IssuerSettings(issuer: Self.issuer, keySource: .jwksURI(server.url), rsaAlgorithm: "RS384")],
                                     httpClient: client)
        await verifier.loadKeys()
        // The key is RS384 by configuration: an RS256 token signed with it is refused.
        #expect(await refused(verifier, try! signer.sign(claims())) == .algorithmNotAllowed)
        try? await client.shutdown()
        await server.stop()
    }

    @Test func backgroundRefreshReplacesKeysBeforeAnyUnknownKid() async throws {
        let old = try TestSigner.make("ES256")
        let new = try TestSigner.make("ES384")
        try await withVerifier([old], adjust: { $0.keysRefreshSeconds = 0.2; $0.keysMinimumRefreshSeconds = 0.2 }) { verifier, server in
            server.set(jwks: try TestSigner.jwks([new]))
            try await Task.sleep(for: .milliseconds(300))
            let before = server.fetchCount
            await verifier.refreshDueKeys()
            #expect(server.fetchCount == before + 1)
            // The rotated-out key is gone, the new one works without another fetch.
            #expect(await refused(verifier, try! new.sign(claims())) == nil)
            #expect(server.fetchCount == before + 1)
        }
    }

    @Test func lastGoodKeysExpireAfterTheStaleBound() async throws {
        let signer = try TestSigner.make("ES256")
        try await withVerifier([signer], adjust: { $0.keysMaxStaleSeconds = 0.3 }) { verifier, server in
            server.set(failing: true)
            #expect(await refused(verifier, try! signer.sign(claims())) == nil)
            try await Task.sleep(for: .milliseconds(400))
            #expect(await refused(verifier, try! signer.sign(claims())) == .keysUnavailable)
        }
    }

    @Test func cacheControlMaxAge() {
        #expect(IssuerKeyStore.maxAge("public, max-age=600") == 600)
        #expect(IssuerKeyStore.maxAge("no-cache") == nil)
        #expect(IssuerKeyStore.maxAge(nil) == nil)
    }
}
