extension Policy.SearchSurface {
    /// nil when every parameter of the search is one the route accepts.
    public func check(_ request: FHIRRequest) -> GatewayError? {
        let type = request.resourceType
        for p in request.parameters {
            switch p.code {
            case "_include", "_revinclude":
                if p.modifier == "iterate" && !iterate { return .malformedRequest(reason: "policy_include_iterate") }
                let allowed = type.flatMap { (p.code == "_include" ? includes : revincludes)[$0] } ?? []
                guard allowed.contains(p.value) else { return .malformedRequest(reason: "policy_\(p.code.dropFirst())_not_allowed") }
            case "_has":
                guard has else { return .malformedRequest(reason: "policy_has_not_allowed") }
            default:
                if p.code == "_count", let maxCount, (Int(p.value) ?? Int.max) > maxCount {
                    return .malformedRequest(reason: "policy_count_too_large")
                }
                if p.chain != nil, !chains { return .malformedRequest(reason: "policy_chain_not_allowed") }
                guard common.contains(p.code) || type.flatMap({ parameters[$0]?.contains(p.code) }) == true else {
                    return .malformedRequest(reason: "policy_search_parameter_not_allowed")
                }
                if let m = p.modifier, p.chain == nil, let modifiers, !modifiers.contains(m), !R4Tables.isResourceType(m) {
                    return .malformedRequest(reason: "policy_modifier_not_allowed")
                }
            }
        }
        return nil
    }
}
