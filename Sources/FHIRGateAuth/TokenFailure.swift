/// Why a token was refused. Reasons go to the audit log only; the client always sees
/// one generic invalid-token answer.
public enum TokenFailure: Error, Sendable, Equatable {
    case malformed
    case unknownIssuer
    case algorithmNotAllowed
    case missingKeyID
    case unknownKeyID
    case forbiddenHeader(String)
    case badSignature
    case expired
    case notYetValid
    case issuedInFuture
    case missingExpiry
    case wrongAudience
    case lifetimeTooLong
    case notAnAccessToken
    case jwksUnreadable
    case keysUnavailable
    case inactive
    case introspectionUnavailable

    public var reason: String {
        switch self {
        case .malformed: "token_malformed"
        case .unknownIssuer: "token_unknown_issuer"
        case .algorithmNotAllowed: "token_algorithm"
        case .missingKeyID: "token_missing_kid"
        case .unknownKeyID: "token_unknown_kid"
        case .forbiddenHeader(let h): "token_header_\(h)"
        case .badSignature: "token_signature"
        case .expired: "token_expired"
        case .notYetValid: "token_not_yet_valid"
        case .issuedInFuture: "token_iat_future"
        case .missingExpiry: "token_missing_exp"
        case .wrongAudience: "token_audience"
        case .lifetimeTooLong: "token_lifetime"
        case .notAnAccessToken: "token_not_access_token"
        case .jwksUnreadable: "jwks_unreadable"
        case .keysUnavailable: "jwks_unavailable"
        case .inactive: "token_inactive"
        case .introspectionUnavailable: "introspection_unavailable"
        }
    }
}
