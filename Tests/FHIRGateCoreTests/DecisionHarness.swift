import Foundation
@testable import FHIRGateCore

/// Runs a raw request through the same pure steps the gateway does — strict target
/// parse, classification, scope/patient decision, body check — and reduces the result
/// to something a table can state.
enum Outcome: Equatable, CustomStringConvertible {
    case allow
    /// Allowed, with these `name=value` parameters added upstream.
    case narrowed([String])
    /// Allowed, but the response must pass the guard.
    case checked
    /// Narrowed and the response checked.
    case narrowedChecked([String])
    /// A write whose target's current version is fetched and checked first.
    case prechecked
    /// A Bulk kick-off, with the query sent upstream.
    case export(String)
    case deny(Int, String)

    var description: String {
        switch self {
        case .allow: "allow"
        case .narrowed(let p): "narrowed(\(p.joined(separator: "&")))"
        case .checked: "checked"
        case .narrowedChecked(let p): "narrowed+checked(\(p.joined(separator: "&")))"
        case .prechecked: "prechecked"
        case .export(let q): "export(\(q))"
        case .deny(let s, let r): "deny(\(s), \(r))"
        }
    }
}

enum Harness {
    static let base = "https://gw.example.org/r4"

    static func token(_ scope: String, patient: String? = nil) -> AccessToken {
        AccessToken(issuer: "https://as.example", subject: "u", clientID: "app", scopes: GrantedScopes(scope), patient: patient,
                    expiresAt: Date().timeIntervalSince1970 + 3600, tokenHash: "0")
    }

    static func run(_ method: String, _ target: String, scope: String?, patient: String? = nil, body: String? = nil,
                    ifNoneExist: String? = nil, form: String? = nil) -> Outcome {
        let authorizer = Authorizer(settings: .init(baseURL: base))
        do {
            guard let m = HTTPMethodName(rawValue: method) else { return .deny(405, "method_unsupported") }
            let parsed = try RequestTarget.parse("/r4" + target)
            guard parsed.segments.first == "r4" else { return .deny(404, "no_route") }
            let formItems = try form.map { try RequestTarget.parseQuery(Array($0.utf8)) }
            let request = try RequestClassifier().classify(method: m, segments: Array(parsed.segments.dropFirst()), query: parsed.query,
                                                           ifNoneExist: ifNoneExist, formBody: formItems)
            let tok = scope.map { token($0, patient: patient) }
            var decision = authorizer.decide(request, token: tok)
            if decision.isAllowed, request.bodyIsChecked {
                decision = RequestBodyCheck(authorizer: authorizer).check(request, body: Array((body ?? "").utf8), token: tok, decision: decision)
            }
            switch decision.effect {
            case .deny(let e): return .deny(e.status, e.reason)
            case .allow:
                if decision.isBulkKickoff {
                    return .export((decision.upstreamQuery ?? []).map { "\($0.name)=\($0.value)" }.joined(separator: "&"))
                }
                if decision.writePrecheck != nil { return decision.narrowing.isEmpty ? .prechecked : .deny(0, "precheck_with_narrowing") }
                let added = decision.narrowing.map { "\($0.name)=\($0.value)" }
                if !added.isEmpty { return decision.responseCheck == nil ? .narrowed(added) : .narrowedChecked(added) }
                return decision.responseCheck == nil ? .allow : .checked
            }
        } catch let error as GatewayError {
            return .deny(error.status, error.reason)
        } catch {
            return .deny(0, "\(error)")
        }
    }
}
