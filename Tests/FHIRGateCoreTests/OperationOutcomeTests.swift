import Foundation
import Testing
@testable import FHIRGateCore

/// Every error answer is one OperationOutcome; the reason code is shown only for what
/// the client's own request decided.
@Suite struct OperationOutcomeTests {
    func issue(_ error: GatewayError) throws -> [String: Any] {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(error.operationOutcome.json.utf8)) as? [String: Any])
        #expect(object["resourceType"] as? String == "OperationOutcome")
        return try #require((object["issue"] as? [[String: Any]])?.first)
    }

    func reason(_ issue: [String: Any]) -> String? {
        guard let coding = ((issue["details"] as? [String: Any])?["coding"] as? [[String: Any]])?.first else { return nil }
        #expect(coding["system"] as? String == OperationOutcome.reasonSystem)
        return coding["code"] as? String
    }

    @Test func answersAboutTheClientsRequestCarryTheReason() throws {
        let shown: [(GatewayError, String)] = [
            (.insufficientScope(reason: "other_patient"), "forbidden"),
            (.malformedRequest(reason: "duplicate_parameter"), "invalid"),
            (.forbidden(reason: "policy_rule:retired-apps"), "forbidden"),
            (.methodNotAllowed(reason: "method_history"), "not-supported"),
            (.notAcceptable(reason: "guarded_response_needs_json"), "not-supported"),
            (.payloadTooLarge, "too-costly"),
            (.throttled(retryAfterSeconds: 3, reason: "rate_limited_client"), "throttled"),
        ]
        for (error, code) in shown {
            let i = try issue(error)
            #expect(i["code"] as? String == code)
            #expect(reason(i) == (error.reason.hasPrefix("policy_rule:") ? "policy_rule" : error.reason), "\(error)")
            #expect(i["diagnostics"] as? String == error.clientMessage)
        }
    }

    /// 404 must look like any missing resource (a hidden one is `guard_hidden`); 401 names
    /// nothing about the token; 5xx nothing about the upstream or the gateway.
    @Test func tokenMissingAndUpstreamAnswersCarryNone() throws {
        let hidden: [GatewayError] = [
            .notFound(reason: "guard_hidden"), .notFound(reason: "upstream_not_found"), .missingToken, .invalidToken(reason: "wrong_audience"),
            .upstreamUnavailable(reason: "guard_unparseable"), .upstreamTimeout(reason: "upstream_timeout"), .internalError(reason: "guard_before_route"),
            .serviceUnavailable(reason: "redis_down"),
        ]
        for error in hidden {
            let i = try issue(error)
            #expect(i["details"] == nil, "\(error)")
            #expect(!error.operationOutcome.json.contains(error.reason), "\(error)")
        }
        #expect(!GatewayError.forbidden(reason: "policy_rule:retired-apps").operationOutcome.json.contains("retired-apps"))
        #expect(GatewayError.notFound(reason: "guard_hidden").operationOutcome.json == GatewayError.notFound(reason: "upstream_not_found").operationOutcome.json)
    }
}
