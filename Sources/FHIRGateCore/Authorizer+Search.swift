/// Searches: scope letters per searched and included type, compartment binding of
/// every patient parameter, and the narrowing added upstream.
extension Authorizer {
    func decideSearch(_ request: FHIRRequest, type: String, context: SMARTScope.Context, patient: String?,
                      scopes: GrantedScopes, compartmentOwner: String? = nil) -> PolicyDecision {
        let match = scopes.matching(context: context, type: type, needed: .search)
        guard match != .none else { return .deny(.insufficientScope(reason: "missing_search_permission")) }
        var narrowing: [RequestTarget.QueryItem] = []
        var needsCheck = false
        // Included types that only granular scopes cover: their entries must match them.
        var includedGranular: [String: [SMARTScope]] = [:]

        for p in request.parameters {
            switch p.code {
            case "_include", "_revinclude":
                guard let reached = Self.includeTarget(p, searchedType: type) else {
                    return .deny(.malformedRequest(reason: "bad_include"))
                }
                for t in reached {
                    switch (scopes.matching(context: context, type: t, needed: .read), scopes.matching(context: context, type: t, needed: .search)) {
                    case (.none, .none):
                        return .deny(.insufficientScope(reason: "include_type_not_granted"))
                    case (.full, _), (_, .full):
                        break
                    case (.granular(let a), .granular(let b)):
                        includedGranular[t] = a + b
                    case (.granular(let a), .none), (.none, .granular(let a)):
                        includedGranular[t] = a
                    }
                }
                needsCheck = needsCheck || patient != nil
            case "_has":
                if patient != nil { return .deny(.insufficientScope(reason: "reverse_chain_under_patient_scope")) }
                guard let first = p.modifier?.split(separator: ":").first, R4Tables.isResourceType(first),
                      scopes.matching(context: context, type: String(first), needed: .search) != .none
                else { return .deny(.insufficientScope(reason: "reverse_chain_type_not_granted")) }
            default:
                if p.chain != nil {
                    if patient != nil { return .deny(.insufficientScope(reason: "chain_under_patient_scope")) }
                    let targets = chainTargets(p, type: type)
                    guard !targets.isEmpty, targets.allSatisfy({ scopes.matching(context: context, type: $0, needed: .search) != .none })
                    else { return .deny(.insufficientScope(reason: "chain_type_not_granted")) }
                }
            }
        }

        if let patient {
            if type == "Patient" || PatientCompartment.contains(type: type) || settings.patientLinkedTypes.contains(type) {
                if compartmentOwner == nil {
                    if let denial = checkBinding(request.parameters, type: type, patient: patient) { return denial }
                    guard let name = PatientCompartment.narrowingParameter(for: type) else {
                        return .deny(.insufficientScope(reason: "no_narrowing_parameter"))
                    }
                    let value = type == "Patient" ? patient : "Patient/" + patient
                    narrowing.append(.init(name: name, value: value))
                } else if let denial = checkBinding(request.parameters, type: type, patient: patient) {
                    return denial
                }
            } else if !settings.readableOutsideCompartment.contains(type) {
                return .deny(.insufficientScope(reason: "outside_compartment"))
            }
        }

        var granular: [String: [SMARTScope]] = [:]
        if case .granular(let granted) = match {
            if let items = granularNarrowing(granted) {
                narrowing += items
            } else {
                needsCheck = true
            }
            granular[type] = granted
        }
        // A type the search matches fully stays full even when it is also included.
        for (t, granted) in includedGranular where t != type || granular[type] != nil {
            granular[t] = Array(Set(granted + (granular[t] ?? [])))
        }
        // A type's history takes no search parameters in FHIR (only `_since`, `_at`,
        // `_count`, `_list`): a server may ignore the narrowing, so every entry is checked.
        if patient != nil, request.interaction == .historyType { needsCheck = true }
        var check: ResponseCheck?
        if needsCheck || !granular.isEmpty {
            check = patient.map(compartmentCheck) ?? ResponseCheck(patient: nil)
            check?.granular = granular
        }
        return .allow(narrowing.isEmpty ? "scope_search" : "scope_search_narrowed", context: context, narrowing: narrowing, responseCheck: check)
    }

    /// Under a `patient/` scope every value of every compartment parameter must name the
    /// context patient; modifiers that could select other data are refused.
    func checkBinding(_ parameters: [SearchParameter], type: String, patient: String) -> PolicyDecision? {
        let binding = PatientCompartment.bindingParameters(for: type)
        for p in parameters where binding.contains(p.code) {
            if p.chain != nil { return .deny(.insufficientScope(reason: "chained_compartment_parameter")) }
            if let m = p.modifier, m != "Patient" {
                return .deny(.insufficientScope(reason: "compartment_parameter_modifier"))
            }
            for value in p.orValues {
                guard let ref = ReferenceValue.parse(value, base: settings.baseURL), ref.id == patient,
                      ref.type == nil || ref.type == "Patient"
                else { return .deny(.insufficientScope(reason: "other_patient")) }
            }
        }
        return nil
    }

    /// The types an `_include`/`_revinclude` value can bring back.
    /// The types an `_include`/`_revinclude` can bring (nil: not one the gateway can read).
    static func includeTarget(_ p: SearchParameter, searchedType: String) -> [String]? {
        if let m = p.modifier, m != "iterate" { return nil }
        if p.value == "*" { return nil }
        let parts = p.value.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 || parts.count == 3, R4Tables.isResourceType(parts[0]),
              let definition = R4Tables.searchParameter(parts[1], on: parts[0]), definition.type == .reference
        else { return nil }
        if p.code == "_revinclude" { return [parts[0]] }
        if parts.count == 3 {
            guard definition.targets.contains(parts[2]) else { return nil }
            return [parts[2]]
        }
        return definition.targets.isEmpty ? nil : definition.targets
    }

    func chainTargets(_ p: SearchParameter, type: String) -> [String] {
        guard let definition = R4Tables.searchParameter(p.code, on: type), definition.type == .reference else { return [] }
        if let m = p.modifier {
            return definition.targets.contains(m) ? [m] : []
        }
        return definition.targets
    }

    /// One AND parameter carrying the OR of the granted values, when every granted
    /// scope constrains exactly the same single parameter; nil when that cannot be said
    /// in one query (the guard filters instead).
    func granularNarrowing(_ granted: [SMARTScope]) -> [RequestTarget.QueryItem]? {
        guard let first = granted.first?.constraints, first.count == 1 else { return nil }
        let name = first[0].parameter
        var values: [String] = []
        for scope in granted {
            guard scope.constraints.count == 1, scope.constraints[0].parameter == name else { return nil }
            values.append(scope.constraints[0].value.replacingCommasEscaped())
        }
        return [.init(name: name, value: values.sorted().joined(separator: ","))]
    }
}
