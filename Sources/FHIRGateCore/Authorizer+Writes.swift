/// Writes under a `patient/` scope, which must stay inside the compartment both before
/// and after the change.
extension Authorizer {
    /// A create is checked from its body. Changing an existing resource also needs the
    /// current version checked (by id: fetched first; conditional: the criteria are
    /// narrowed to the patient), and its new content checked by the body check.
    func decidePatientWrite(_ request: FHIRRequest, type: String, patient: String, context: SMARTScope.Context) -> PolicyDecision {
        guard PatientCompartment.contains(type: type) else { return .deny(.insufficientScope(reason: "outside_compartment")) }
        // Held strictly to the compartment: types readable outside it are not writable.
        let strict = ResponseCheck(patient: patient)
        switch request.interaction {
        case .create, .conditionalCreate:
            guard type != "Patient" else { return .deny(.insufficientScope(reason: "outside_compartment")) }
            if request.interaction == .conditionalCreate {
                // The criteria search runs upstream with no narrowing: keep it to this patient.
                if let denial = checkBinding(request.conditionalCriteria, type: type, patient: patient) { return denial }
                if request.conditionalCriteria.contains(where: { $0.code == "_has" || $0.chain != nil }) {
                    return .deny(.insufficientScope(reason: "chain_under_patient_scope"))
                }
            }
            return .allow("patient_create", context: context, responseCheck: strict)
        case .update, .patch, .delete:
            if type == "Patient", request.id != patient { return .deny(.insufficientScope(reason: "other_patient")) }
            return .allow("patient_write_prechecked", context: context, responseCheck: request.interaction == .delete ? nil : strict,
                          writePrecheck: strict)
        default:
            // Conditional update/patch/delete: the criteria may only select this patient's resources.
            if let denial = checkBinding(request.parameters, type: type, patient: patient) { return denial }
            if request.parameters.contains(where: { $0.code == "_has" || $0.chain != nil }) {
                return .deny(.insufficientScope(reason: "chain_under_patient_scope"))
            }
            guard let name = PatientCompartment.narrowingParameter(for: type) else {
                return .deny(.insufficientScope(reason: "no_narrowing_parameter"))
            }
            return .allow("patient_conditional_write_narrowed", context: context,
                          narrowing: [.init(name: name, value: type == "Patient" ? patient : "Patient/" + patient)],
                          responseCheck: request.interaction == .conditionalDelete ? nil : strict)
        }
    }
}
