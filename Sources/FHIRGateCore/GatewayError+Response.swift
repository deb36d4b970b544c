/// The single mapping from `GatewayError` to what the client receives.
extension GatewayError {
    /// A policy rule's denial with the status the rule names (400, 403, 404 or 405).
    public static func policyDenied(status: Int, reason: String) -> GatewayError {
        switch status {
        case 400: .malformedRequest(reason: reason)
        case 404: .notFound(reason: reason)
        case 405: .methodNotAllowed(reason: reason)
        default: .forbidden(reason: reason)
        }
    }

    /// Statuses a policy rule may answer with.
    public static let policyStatuses: Set<Int> = [400, 403, 404, 405]

    public var status: Int {
        switch self {
        case .malformedRequest, .invalidAuthorizationHeader: 400
        case .missingToken, .invalidToken: 401
        case .insufficientScope, .forbidden: 403
        case .notFound: 404
        case .methodNotAllowed: 405
        case .notAcceptable: 406
        case .payloadTooLarge: 413
        case .throttled: 429
        case .headersTooLarge: 431
        case .internalError: 500
        case .upstreamUnavailable: 502
        case .serviceUnavailable: 503
        case .requestTimeout: 408
        case .upstreamTimeout: 504
        }
    }

    /// FHIR `OperationOutcome.issue.code` (value set `issue-type`).
    public var issueCode: String {
        switch self {
        case .malformedRequest, .invalidAuthorizationHeader: "invalid"
        case .missingToken, .invalidToken: "login"
        case .insufficientScope, .forbidden: "forbidden"
        case .notFound: "not-found"
        case .methodNotAllowed, .notAcceptable: "not-supported"
        case .payloadTooLarge, .headersTooLarge: "too-costly"
        case .throttled: "throttled"
        case .internalError: "exception"
        case .upstreamUnavailable, .serviceUnavailable: "transient"
        case .upstreamTimeout, .requestTimeout: "timeout"
        }
    }

    /// Machine-readable reason for the audit record and metrics; sent to clients only as
    /// `clientReason` allows.
    public var reason: String {
        switch self {
        case .malformedRequest(let r), .invalidAuthorizationHeader(let r), .invalidToken(let r),
             .insufficientScope(let r), .forbidden(let r), .notFound(let r), .methodNotAllowed(let r),
             .notAcceptable(let r), .upstreamUnavailable(let r), .serviceUnavailable(let r), .requestTimeout(let r),
             .upstreamTimeout(let r), .internalError(let r):
            r
        case .throttled(_, let r): r
        case .missingToken: "missing_token"
        case .payloadTooLarge: "body_too_large"
        case .headersTooLarge: "headers_too_large"
        }
    }

    /// What the client is told in words. Deliberately generic: the reason code, where
    /// one is shown, says the rest.
    public var clientMessage: String {
        switch self {
        case .malformedRequest: "The request is malformed or ambiguous and was not processed."
        case .invalidAuthorizationHeader: "The Authorization header is malformed."
        case .missingToken: "A bearer access token is required."
        case .invalidToken: "The access token is invalid, expired or revoked."
        case .insufficientScope: "The access token does not permit this request."
        case .forbidden: "This request is not permitted."
        case .notFound: "The requested resource was not found."
        case .methodNotAllowed: "This method is not supported here."
        case .notAcceptable: "The requested format is not supported here."
        case .payloadTooLarge: "The request body is too large."
        case .throttled: "Too many requests. Retry later."
        case .headersTooLarge: "The request header section is too large."
        case .internalError: "The gateway failed to process the request."
        case .upstreamUnavailable: "The FHIR server is unavailable."
        case .serviceUnavailable: "The service is temporarily unavailable."
        case .requestTimeout: "The request body was not received in time."
        case .upstreamTimeout: "The FHIR server did not respond in time."
        }
    }

    /// The RFC 6750 `WWW-Authenticate` value for 400 (header), 401 and 403 answers.
    public func wwwAuthenticate(realm: String) -> String? {
        let realmPart = "Bearer realm=\"\(realm)\""
        switch self {
        case .missingToken: return realmPart
        case .invalidToken: return realmPart + ", error=\"invalid_token\""
        case .invalidAuthorizationHeader: return realmPart + ", error=\"invalid_request\""
        case .insufficientScope, .forbidden: return realmPart + ", error=\"insufficient_scope\""
        default: return nil
        }
    }

    /// The reason the client is shown: only for answers decided from the client's own
    /// request. Never for 401 (what was wrong with a token is the issuer's business and
    /// names claims), 404 (a hidden resource must look exactly like a missing one), or
    /// 5xx (the upstream's and the gateway's internals).
    public var clientReason: String? {
        switch self {
        case .malformedRequest, .invalidAuthorizationHeader, .insufficientScope, .forbidden, .methodNotAllowed, .notAcceptable,
             .payloadTooLarge, .throttled, .headersTooLarge, .requestTimeout:
            // A policy rule's id is the clinic's own naming: the client learns that a rule denied it.
            reason.hasPrefix("policy_rule:") ? "policy_rule" : reason
        case .missingToken, .invalidToken, .notFound, .internalError, .upstreamUnavailable, .serviceUnavailable, .upstreamTimeout:
            nil
        }
    }

    /// The response body: a FHIR OperationOutcome.
    public var operationOutcome: OperationOutcome {
        OperationOutcome(code: issueCode, diagnostics: clientMessage, reason: clientReason)
    }
}
