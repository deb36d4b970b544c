import FHIRGateCore
import Testing
@testable import FHIRGateServer

/// RFC 6750 §2.1: `Bearer` (any case), one space, a token68.
@Suite struct BearerTokenTests {
    @Test(arguments: [
        ("Bearer abc.DEF-ghi_jkl~mno+pqr/stu", "abc.DEF-ghi_jkl~mno+pqr/stu"), ("bearer x", "x"), ("BEARER x==", "x=="), ("Bearer ==", "=="),
    ])
    func wellFormedHeadersGiveTheToken(_ header: String, _ token: String) throws {
        #expect(try AuthenticatePhase.bearerToken(header) == token)
    }

    @Test(arguments: [
        ("Basic Zm9vOmJhcg==", "authorization_scheme"), ("Bearer", "authorization_scheme"), ("Bearer ", "authorization_scheme"),
        ("Bearerx abc", "authorization_scheme"), ("Bearer  abc", "token_characters"), ("Bearer a=b", "token_characters"),
        ("Bearer a b", "token_characters"), ("Bearer abc\u{e9}", "token_characters"), ("Bearer a,b", "token_characters"),
        ("Bearer " + String(repeating: "a", count: 16385), "token_length"),
    ])
    func malformedHeadersAreRefusedWithTheirReason(_ header: String, _ reason: String) {
        #expect(throws: GatewayError.invalidAuthorizationHeader(reason: reason)) { try AuthenticatePhase.bearerToken(header) }
    }
}
