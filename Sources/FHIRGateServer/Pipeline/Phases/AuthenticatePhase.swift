import FHIRGateAuth
import FHIRGateCore

/// Phase 4: the bearer token, verified. Public interactions skip it.
struct AuthenticatePhase {
    let verifier: TokenVerifier

    func run(_ ctx: inout RequestContext) async throws(GatewayError) {
        guard let request = ctx.request, let route = ctx.route else { throw .internalError(reason: "authenticate_before_classify") }
        if request.interaction.isPublic { return }
        let values = ctx.head.headers["authorization"]
        guard let header = values.first else { throw .missingToken }
        let token = try Self.bearerToken(header)
        do {
            ctx.token = try await verifier.verify(token, audience: route.settings.baseURL)
        } catch {
            throw .invalidToken(reason: error.reason)
        }
    }

    /// `Bearer <token68>`, scheme case-insensitive, exactly one space.
    static func bearerToken(_ header: String) throws(GatewayError) -> String {
        var header = header
        // Read in place: the header is a few hundred bytes on every request.
        let token: Result<String, GatewayError> = header.withUTF8 { utf8 in
            guard utf8.count > 7, ASCIICase.equal(utf8[0..<7], "bearer ".utf8) else {
                return .failure(.invalidAuthorizationHeader(reason: "authorization_scheme"))
            }
            let token = UnsafeBufferPointer(rebasing: utf8[7...])
            // token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
            var sawPadding = false
            for b in token {
                let isBase = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                    || b == 0x2D || b == 0x2E || b == 0x5F || b == 0x7E || b == 0x2B || b == 0x2F
                if b == 0x3D { sawPadding = true; continue }
                guard isBase, !sawPadding else { return .failure(.invalidAuthorizationHeader(reason: "token_characters")) }
            }
            guard token.count <= 16384 else { return .failure(.invalidAuthorizationHeader(reason: "token_length")) }
            return .success(String(decoding: token, as: UTF8.self))
        }
        return try token.get()
    }
}
