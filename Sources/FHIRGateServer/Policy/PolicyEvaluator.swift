import FHIRGateCore
import Foundation

/// The pure part of the request path for one route — target parse, classification, scope
/// decision, body check, policy — without a network. `fhirgate explain` and the policy
/// tests use it, so what they report is what the gateway does.
public struct PolicyEvaluator: Sendable {
    public let authorizer: Authorizer
    public let engine: PolicyEngine?
    let bodyCheck: RequestBodyCheck

    public init(policy: PolicyFile?, baseURL: String) {
        authorizer = Authorizer(settings: policy?.authorizerSettings(baseURL: baseURL) ?? .init(baseURL: baseURL))
        bodyCheck = RequestBodyCheck(authorizer: authorizer)
        engine = policy.map { PolicyEngine(policy: $0.policy) }
    }

    /// What happened to one request, step by step.
    public struct Trace: Sendable {
        public var request: FHIRRequest?
        /// The decision of the SMART scopes alone.
        public var scopeDecision: PolicyDecision?
        /// The final decision (scopes, body, then policy).
        public var decision: PolicyDecision
        public var status: Int { if case .deny(let e) = decision.effect { e.status } else { 200 } }
    }

    /// The decision for a classified request: SMART scopes, then the body of a write or
    /// Bundle, then the policy (which can only narrow). Returns the scopes' decision too.
    public func decide(_ request: FHIRRequest, body: [UInt8], token: AccessToken?) -> (scopes: PolicyDecision, final: PolicyDecision) {
        var decision = authorizer.decide(request, token: token)
        if decision.isAllowed, request.bodyIsChecked {
            decision = bodyCheck.check(request, body: body, token: token, decision: decision)
        }
        let scopes = decision
        if let engine { decision = engine.evaluate(request, token: token, decision: decision) }
        return (scopes, decision)
    }

    /// `target` is relative to the route's base (`/Observation?patient=123`).
    public func trace(method: String, target: String, body: [UInt8]? = nil, ifNoneExist: String? = nil, token: AccessToken?) -> Trace {
        do {
            guard let m = HTTPMethodName(rawValue: method.uppercased()) else { throw GatewayError.methodNotAllowed(reason: "method_unsupported") }
            let parsed = try RequestTarget.parse(target.hasPrefix("/") ? target : "/" + target)
            var formItems: [RequestTarget.QueryItem]?
            if m == .POST, parsed.segments.last == "_search", let body { formItems = try RequestTarget.parseQuery(body) }
            let request = try RequestClassifier().classify(method: m, segments: parsed.segments, query: parsed.query, ifNoneExist: ifNoneExist,
                                                           formBody: formItems)
            let (scopeDecision, decision) = decide(request, body: body ?? [], token: token)
            return Trace(request: request, scopeDecision: scopeDecision, decision: decision)
        } catch let error as GatewayError {
            return Trace(request: nil, scopeDecision: nil, decision: .deny(error))
        } catch {
            return Trace(request: nil, scopeDecision: nil, decision: .deny(.malformedRequest(reason: "unreadable_request")))
        }
    }

    /// A token as an authorization server would issue it, from JSON-ish claims.
    public static func token(claims: [String: Any]) -> AccessToken {
        var scope = claims["scope"] as? String ?? ""
        if let list = claims["scope"] as? [String] { scope = list.joined(separator: " ") }
        var token = AccessToken(issuer: claims["iss"] as? String ?? "https://auth.example", subject: claims["sub"] as? String ?? "user",
                                clientID: claims["client_id"] as? String ?? "app", scopes: GrantedScopes(scope), patient: claims["patient"] as? String,
                                expiresAt: Date().timeIntervalSince1970 + 3600, tokenHash: "0")
        token.fhirUser = claims["fhirUser"] as? String
        return token
    }
}

extension PolicyFile {
    /// The scope-decision settings this policy sets for a route.
    public func authorizerSettings(baseURL: String) -> Authorizer.Settings {
        var settings = Authorizer.Settings(baseURL: baseURL)
        settings.readableOutsideCompartment = readableOutsideCompartment
        settings.patientLinkedTypes = patientLinkedTypes
        settings.followPatientLinks = followPatientLinks
        settings.bulk = bulkExport.settings
        return settings
    }
}
