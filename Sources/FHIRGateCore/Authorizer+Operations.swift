/// Operations: only those whose effect the gateway can bound are allowed by scopes alone.
extension Authorizer {
    func decideOperation(_ request: FHIRRequest, context: SMARTScope.Context, patient: String?, scopes: GrantedScopes) -> PolicyDecision {
        guard let op = request.operation else { return .deny(.malformedRequest(reason: "operation_shape")) }
        let type = request.resourceType
        switch (op, request.interaction) {
        case ("everything", .operationInstance) where type == "Patient":
            if let patient, request.id != patient { return .deny(.insufficientScope(reason: "other_patient")) }
            guard scopes.scopes.contains(where: { $0.context == context && $0.resourceType == nil && $0.permissions.isSuperset(of: [.read, .search]) && $0.constraints.isEmpty })
            else { return .deny(.insufficientScope(reason: "everything_needs_all_types")) }
            return .allow("everything", context: context,
                          responseCheck: patient.map(compartmentCheck))
        case (let name, .operationType) where Self.terminologyOperations.contains(name) && ["ValueSet", "CodeSystem", "ConceptMap"].contains(type ?? ""):
            return .allow("terminology_operation", context: context)
        case ("validate", _):
            guard let type, scopes.matching(context: context, type: type, needed: .create) == .full
                || scopes.matching(context: context, type: type, needed: .update) == .full
            else { return .deny(.insufficientScope(reason: "validate_needs_write")) }
            if let patient, request.interaction == .operationInstance {
                // Validating a stored resource answers about what it holds (and that it
                // exists): only the patient's own, checked first like a write's target.
                if type == "Patient" {
                    return request.id == patient ? .allow("validate", context: context) : .deny(.insufficientScope(reason: "other_patient"))
                }
                guard PatientCompartment.contains(type: type) else { return .deny(.insufficientScope(reason: "outside_compartment")) }
                return .allow("validate_prechecked", context: context, writePrecheck: ResponseCheck(patient: patient))
            }
            return .allow("validate", context: context)
        case (let name, .operationType) where type != nil && OperationParameters.searchOperations[name] == type:
            var asSearch = request
            asSearch.interaction = .searchType
            return decideSearch(asSearch, type: type!, context: context, patient: patient, scopes: scopes)
        default:
            // Bulk export and anything unknown: denied until a policy allows them.
            return .deny(.insufficientScope(reason: "operation_not_allowed"))
        }
    }
}
