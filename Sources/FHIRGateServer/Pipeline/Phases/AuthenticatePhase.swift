import FHIRGateAuth
import FHIRGateCore

/// Phase 4: the bearer token, verified. Public interactions skip it.
struct AuthenticatePhase {
    let verifier: TokenVerifier

    func run(_ ctx: inout RequestContext) async throws(GatewayError) {
        guard let request = ctx.request, let route = ctx.route else { throw .internalError(reason: "authenticate_before_classify") }
        if request.interaction.isPublic { return }
        // One Authorization header at most (ValidatePhase refused repeats).
        guard let header = ctx.head.headers.first(name: "authorization") else { throw .missingToken }
        let token = try Self.bearerToken(header)
        do {
            ctx.token = try await verifier.verify(token, audience: route.settings.baseURL)
        } catch {
            throw .invalidToken(reason: error.reason)
        }
    }

    /// The bytes token68 allows before its padding (1), a table because the check runs
    /// over every byte of every request's token.
    static let token68: [UInt8] = (0..<256).map { b -> UInt8 in
        let allowed = (0x30...0x39).contains(b) || (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b)
            || [0x2D, 0x2E, 0x5F, 0x7E, 0x2B, 0x2F].contains(b)
        return allowed ? 1 : 0
    }

    /// `Bearer <token68>`, scheme case-insensitive, exactly one space.
    static func bearerToken(_ header: String) throws(GatewayError) -> String {
        var header = header
        // Read in place: the header is a few hundred bytes on every request.
        let token: Result<String, GatewayError> = header.withUTF8 { utf8 in
            guard utf8.count > 7, ASCIICase.equal(UnsafeBufferPointer(rebasing: utf8[0..<7]), "bearer ".utf8) else {
                return .failure(.invalidAuthorizationHeader(reason: "authorization_scheme"))
            }
            let token = UnsafeBufferPointer(rebasing: utf8[7...])
            // token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
            var end = token.count
            while end > 0, token[end - 1] == 0x3D { end -= 1 }
            guard Self.token68.withUnsafeBufferPointer({ table in !token[..<end].contains { table[Int($0)] == 0 } }) else {
                return .failure(.invalidAuthorizationHeader(reason: "token_characters"))
            }
            guard token.count <= 16384 else { return .failure(.invalidAuthorizationHeader(reason: "token_length")) }
            return .success(String(decoding: token, as: UTF8.self))
        }
        return try token.get()
    }
}
