/// Reads by id (read, vread, instance history): whose resource an id names is not
/// known from the request, so under a `patient/` scope the answer is checked.
extension Authorizer {
    func decideRead(_ request: FHIRRequest, context: SMARTScope.Context, patient: String?, scopes: GrantedScopes) -> PolicyDecision {
        guard let type = request.resourceType, let id = request.id else { return .deny(.malformedRequest(reason: "read_shape")) }
        let match = scopes.matching(context: context, type: type, needed: .read)
        guard match != .none else { return .deny(.insufficientScope(reason: "missing_read_permission")) }
        guard let patient else {
            return .allow("scope_read", context: context, responseCheck: granularCheck(match, type: type, patient: nil))
        }
        if type == "Patient" {
            if id == patient {
                return .allow("patient_self", context: context, responseCheck: granularCheck(match, type: type, patient: nil))
            }
            // Another Patient is shown only when it links to this one, which only its
            // content can tell.
            guard settings.followPatientLinks else { return .deny(.insufficientScope(reason: "other_patient")) }
            return .allow("patient_linked_checked", context: context, responseCheck: responseCheck(patient: patient, match: match, type: type))
        }
        guard isReachableUnderPatient(type) else { return .deny(.insufficientScope(reason: "outside_compartment")) }
        // Whose resource `id` is cannot be known from the request: the guard checks.
        return .allow("scope_read_checked", context: context, responseCheck: responseCheck(patient: patient, match: match, type: type))
    }
}
