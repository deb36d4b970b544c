/// Every way the gateway itself can answer a request instead of the upstream.
///
/// One enum so that the mapping to HTTP status, FHIR issue code and RFC 6750 error is
/// made in exactly one place (`GatewayError+Response.swift`). The `reason` strings are
/// machine-readable codes for the audit log and metrics; clients only ever see the
/// generic `clientMessage`, never a token, claim, scope, rule or upstream detail.
public enum GatewayError: Error, Sendable, Equatable {
    /// The request could not be classified with certainty (400 `invalid`).
    case malformedRequest(reason: String)
    /// The Authorization header itself is malformed (400 `invalid_request`).
    case invalidAuthorizationHeader(reason: String)
    /// No bearer token on a protected endpoint (401, no error code).
    case missingToken
    /// A token was presented but is not acceptable (401 `invalid_token`).
    case invalidToken(reason: String)
    /// The token is valid but does not allow this request (403 `insufficient_scope`).
    case insufficientScope(reason: String)
    /// Refused by local policy (403 `forbidden`).
    case forbidden(reason: String)
    /// No route or resource; also used to hide resources the token may not see (404).
    case notFound(reason: String)
    /// The method is not supported at this path (405).
    case methodNotAllowed(reason: String)
    /// The client asked for a format the gateway cannot check (406).
    case notAcceptable(reason: String)
    /// The request body is larger than allowed (413 `too-costly`).
    case payloadTooLarge
    /// Rate limited (429 `throttled`).
    case throttled(retryAfterSeconds: Int, reason: String)
    /// The request header section is larger than allowed (431).
    case headersTooLarge
    /// The upstream could not be reached or answered garbage (502 `transient`).
    case upstreamUnavailable(reason: String)
    /// The client did not send its request body in time (408).
    case requestTimeout(reason: String)
    /// The gateway cannot serve now (draining, audit unwritable) (503).
    case serviceUnavailable(reason: String)
    /// The upstream did not answer in time (504 `timeout`).
    case upstreamTimeout(reason: String)
    /// A bug or an unexpected failure inside the gateway (500 `exception`).
    case internalError(reason: String)
}
