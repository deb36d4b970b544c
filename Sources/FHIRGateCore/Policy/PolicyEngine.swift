/// Applies a route's policy to a request the SMART scopes already allowed. It can only
/// deny, narrow or add response checks — never allow what the scopes refused — and in
/// report-only mode (whole file or one rule) it changes nothing and names what it would
/// have denied in `would_deny`. Pure: no I/O, cheap on the hot path (rules indexed by type).
public struct PolicyEngine: Sendable {
    public let policy: Policy
    /// The types the exposure lists, for answers that can hold other types (nil: no
    /// exposure, or `"*"` exposes every type). Built once, not per request.
    let exposedTypes: Set<String>?

    public init(policy: Policy) {
        self.policy = policy
        exposedTypes = policy.exposure.flatMap { $0.anyType.isEmpty ? Set($0.types.keys) : nil }
    }

    public func evaluate(_ request: FHIRRequest, token: AccessToken?, decision: PolicyDecision) -> PolicyDecision {
        guard decision.isAllowed, let token, let code = PolicyCode.of(request) else { return decision }
        var result = decision
        let context = decision.context
        let fileTrial = policy.mode == .reportOnly
        var enforced: GatewayError?

        /// A denial: enforced unless the file (or the rule) is report-only.
        func deny(_ error: GatewayError, id: String, trial: Bool = false) {
            if fileTrial || trial {
                result.wouldDeny.append(id)
            } else if enforced == nil {
                enforced = error
            }
        }

        if let error = policy.clients?.check(token, context: context) { deny(error, id: "clients") }

        // A followed page link continues a search already checked against exposure and surface.
        let continuation = request.interaction == .pageContinuation
        if let exposure = policy.exposure, !continuation {
            if request.interaction == .bulkStatus || request.interaction == .bulkFile {
                if !exposure.exposesExport { deny(.methodNotAllowed(reason: "policy_interaction_not_exposed"), id: "exposure") }
            } else if let type = request.resourceType, !exposure.exposes(type: type) {
                deny(.forbidden(reason: "policy_type_not_exposed"), id: "exposure")
            } else if !exposure.allows(type: request.resourceType, code: code) {
                deny(.methodNotAllowed(reason: "policy_interaction_not_exposed"), id: "exposure")
            }
        }

        let isSearch: Bool
        switch request.interaction {
        case .searchType, .searchSystem, .searchCompartment: isSearch = true
        default: isSearch = false
        }
        if isSearch, let surface = policy.search, let error = surface.check(request) { deny(error, id: "search") }

        if context == .patient, let type = request.resourceType {
            if policy.patientScopes.compartment == .require, isSearch, request.interaction != .searchCompartment,
               !decision.narrowing.isEmpty,
               !request.parameters.contains(where: { PatientCompartment.bindingParameters(for: type).contains($0.code) }) {
                deny(.forbidden(reason: "policy_patient_parameter_required"), id: "patient_scopes")
            }
            // The opt-out trusts the upstream for this type's own resources; what an
            // `_include`/`_revinclude` brings is of other types and stays checked.
            if policy.patientScopes.unverifiedTypes.contains(type), result.responseCheck?.granular.isEmpty == true,
               !request.parameters.contains(where: { $0.code == "_include" || $0.code == "_revinclude" }) {
                result.responseCheck = nil
            }
        }

        let rules = policy.rules.evaluate(request, code: code, token: token, context: context,
                                          exemptFromDefault: continuation || request.interaction == .bulkStatus || request.interaction == .bulkFile)
        result.matchedRules = rules.matched
        result.wouldDeny += rules.wouldDeny
        if let rule = rules.denial {
            if !fileTrial { result.denyingRule = rule.id }
            deny(GatewayError.policyDenied(status: rule.status, reason: "policy_rule:" + rule.id), id: rule.id)
        } else if rules.deniedByDefault {
            deny(.forbidden(reason: "policy_default_deny"), id: "default_deny")
        }

        // An answer that can hold other types than the request names (`$everything`, a
        // compartment's every type, system-level search or history, an `_include` that can
        // reach a type not exposed, a followed page of any of them) shows only the types the
        // route exposes: an EHR's `$everything` also returns Consent, Claim, Group (with
        // every member), Account…
        if let exposed = exposedTypes, !fileTrial, Self.mayShowUnexposedTypes(request, exposed) {
            var check = result.responseCheck ?? ResponseCheck(patient: nil)
            check.visibleTypes = check.visibleTypes.map { $0.intersection(exposed) } ?? exposed
            result.responseCheck = check
        }

        // Data rules: resources with these labels are withheld by the response guard.
        for rule in policy.dataRules {
            if let contexts = rule.contexts { guard let context, contexts.contains(context) else { continue } }
            if rule.mode == .reportOnly || fileTrial {
                result.trialSecurityLabels[rule.id, default: []] += rule.labels
            } else {
                var check = result.responseCheck ?? ResponseCheck(patient: nil)
                check.deniedSecurityLabels += rule.labels
                result.responseCheck = check
            }
        }

        if let enforced {
            var denied = PolicyDecision.deny(enforced)
            denied.context = context
            denied.matchedRules = result.matchedRules
            denied.denyingRule = result.denyingRule
            denied.wouldDeny = result.wouldDeny
            return denied
        }
        return result
    }

    /// Whether the answer can hold resources of types the route does not expose (the
    /// request's own type passed the exposure check). `_revinclude=Provenance:target`, on
    /// every US Core search, brings only Provenance: no check for it where Provenance is exposed.
    static func mayShowUnexposedTypes(_ request: FHIRRequest, _ exposed: Set<String>) -> Bool {
        switch request.interaction {
        case .searchSystem, .historySystem, .pageContinuation: return true
        case .searchCompartment where request.resourceType == nil: return true
        default: break
        }
        if request.operation == "everything" { return true }
        return request.parameters.contains { p in
            guard p.code == "_include" || p.code == "_revinclude" else { return false }
            guard let type = request.resourceType, let reached = Authorizer.includeTarget(p, searchedType: type) else { return true }
            return !reached.allSatisfy(exposed.contains)
        }
    }
}
