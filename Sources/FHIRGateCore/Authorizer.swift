/// Decides, from the classified request and the verified token alone, whether the
/// token's SMART scopes (and patient context) allow the request, and how it has to be
/// narrowed or checked. Scopes are the ceiling; policy files (a later stage) can only
/// narrow further.
public struct Authorizer: Sendable {
    public struct Settings: Sendable {
        /// The route's public FHIR base URL; absolute references must sit under it.
        public var baseURL: String
        /// Types outside the Patient compartment that `patient/` scopes may read unpinned.
        public var readableOutsideCompartment: Set<String>
        /// Types outside the compartment that carry a patient link (searched by `patient`).
        public var patientLinkedTypes: Set<String>

        public init(baseURL: String,
                    readableOutsideCompartment: Set<String> = ["Practitioner", "PractitionerRole", "Organization", "Location", "Medication"],
                    patientLinkedTypes: Set<String> = ["Device"]) {
            self.baseURL = baseURL
            self.readableOutsideCompartment = readableOutsideCompartment
            self.patientLinkedTypes = patientLinkedTypes
        }
    }

    public let settings: Settings

    public init(settings: Settings) {
        self.settings = settings
    }

    /// Operations that need nothing but a read of non-patient data.
    static let terminologyOperations: Set<String> = ["expand", "lookup", "validate-code", "translate", "subsumes"]

    public func decide(_ request: FHIRRequest, token: AccessToken?) -> PolicyDecision {
        if request.interaction.isPublic { return .allow("public_endpoint") }
        guard let token else { return .deny(.missingToken) }
        // Unpinned contexts first: if a system/ or user/ scope covers the request, the
        // launch patient does not restrict it (SMART: user/ is not pinned).
        var lastDenial = PolicyDecision.deny(.insufficientScope(reason: "no_matching_scope"))
        for context in [SMARTScope.Context.system, .user, .patient] where token.scopes.hasContext(context) {
            let decision = decide(request, token: token, context: context)
            if decision.isAllowed { return decision }
            lastDenial = decision
        }
        return lastDenial
    }

    // MARK: - Per context

    func decide(_ request: FHIRRequest, token: AccessToken, context: SMARTScope.Context) -> PolicyDecision {
        let scopes = token.scopes
        var pinnedPatient: String?
        if context == .patient {
            guard let patient = token.patient, FHIRId.isValid(patient) else {
                return .deny(.insufficientScope(reason: "no_patient_context"))
            }
            pinnedPatient = patient
        }

        switch request.interaction {
        case .capabilities, .smartConfiguration:
            return .allow("public_endpoint")

        case .read, .vread, .historyInstance:
            guard let type = request.resourceType, let id = request.id else { return .deny(.malformedRequest(reason: "read_shape")) }
            let match = scopes.matching(context: context, type: type, needed: .read)
            guard match != .none else { return .deny(.insufficientScope(reason: "missing_read_permission")) }
            guard let patient = pinnedPatient else {
                return .allow("scope_read", context: context, responseCheck: granularCheck(match, type: type, patient: nil))
            }
            if type == "Patient" {
                guard id == patient else { return .deny(.insufficientScope(reason: "other_patient")) }
                return .allow("patient_self", context: context, responseCheck: granularCheck(match, type: type, patient: nil))
            }
            guard isReachableUnderPatient(type) else { return .deny(.insufficientScope(reason: "outside_compartment")) }
            // Whose resource `id` is cannot be known from the request: the guard checks.
            return .allow("scope_read_checked", context: context,
                          responseCheck: responseCheck(patient: patient, match: match, type: type))

        case .searchType, .historyType:
            guard let type = request.resourceType else { return .deny(.malformedRequest(reason: "search_shape")) }
            return decideSearch(request, type: type, context: context, patient: pinnedPatient, scopes: scopes)

        case .searchCompartment:
            guard let owner = request.compartment, owner.type == "Patient" else {
                return .deny(.insufficientScope(reason: "compartment_type"))
            }
            if let patient = pinnedPatient, owner.id != patient { return .deny(.insufficientScope(reason: "other_patient")) }
            guard let type = request.resourceType else {
                // `Patient/x/*` returns every type: needs a wildcard search grant.
                guard scopes.matching(context: context, type: "*", needed: .search) == .full,
                      scopes.scopes.contains(where: { $0.context == context && $0.resourceType == nil && $0.permissions.contains(.search) })
                else { return .deny(.insufficientScope(reason: "compartment_wildcard")) }
                return .allow("compartment_all", context: context,
                              responseCheck: pinnedPatient.map { ResponseCheck(patient: $0, readableOutsideCompartment: settings.readableOutsideCompartment) })
            }
            return decideSearch(request, type: type, context: context, patient: pinnedPatient, scopes: scopes, compartmentOwner: owner.id)

        case .pageContinuation where request.isSignedPageLink:
            // A page of a search this token's holder ran: re-checked entry by entry, as
            // the types it holds are not known from the link.
            let grants = scopes.scopes.filter { $0.context == context && !$0.permissions.intersection([.read, .search]).isEmpty }
            guard !grants.isEmpty else { return .deny(.insufficientScope(reason: "no_matching_scope")) }
            var check = ResponseCheck(patient: pinnedPatient, readableOutsideCompartment: settings.readableOutsideCompartment)
            if !grants.contains(where: { $0.resourceType == nil && $0.constraints.isEmpty }) {
                let fullTypes = Set(grants.filter { $0.constraints.isEmpty }.compactMap(\.resourceType))
                check.visibleTypes = Set(grants.compactMap(\.resourceType))
                for scope in grants where !scope.constraints.isEmpty {
                    guard let type = scope.resourceType, !fullTypes.contains(type) else { continue }
                    check.granular[type, default: []].append(scope)
                }
            }
            return .allow("signed_page_link", context: context, responseCheck: check)

        case .searchSystem, .historySystem, .pageContinuation:
            // Results of any type: only an unpinned wildcard search grant covers it.
            guard pinnedPatient == nil,
                  scopes.scopes.contains(where: { $0.context == context && $0.resourceType == nil && $0.permissions.contains(.search) && $0.constraints.isEmpty })
            else { return .deny(.insufficientScope(reason: "system_level_search")) }
            return .allow("wildcard_search", context: context)

        case .create, .conditionalCreate, .update, .conditionalUpdate, .patch, .conditionalPatch, .delete, .conditionalDelete:
            guard let type = request.resourceType else { return .deny(.malformedRequest(reason: "write_shape")) }
            var needed: SMARTPermissions
            switch request.interaction {
            case .create: needed = .create
            case .conditionalCreate: needed = [.create, .search]
            case .update, .patch: needed = .update
            case .conditionalUpdate, .conditionalPatch: needed = [.update, .search]
            case .delete: needed = .delete
            default: needed = [.delete, .search]
            }
            let match = scopes.matching(context: context, type: type, needed: needed)
            guard match == .full else { return .deny(.insufficientScope(reason: "missing_write_permission")) }
            if let patient = pinnedPatient {
                // Only a create can be checked from the request (its body); changing an
                // existing resource needs the current version checked first.
                guard request.interaction == .create || request.interaction == .conditionalCreate else {
                    return .deny(.insufficientScope(reason: "patient_write_unverifiable"))
                }
                guard PatientCompartment.contains(type: type), type != "Patient" else {
                    return .deny(.insufficientScope(reason: "outside_compartment"))
                }
                if request.interaction == .conditionalCreate {
                    // The criteria search runs upstream with no narrowing: keep it to this patient.
                    if let denial = checkBinding(request.conditionalCriteria, type: type, patient: patient) { return denial }
                }
                return .allow("patient_create", context: context, responseCheck: ResponseCheck(patient: patient))
            }
            return .allow("scope_write", context: context)

        case .batchOrTransaction:
            // Entries are authorized one by one by `BundleAuthorizer` once the body is read.
            return .allow("bundle_entries_checked", context: context)

        case .operationSystem, .operationType, .operationInstance:
            return decideOperation(request, context: context, patient: pinnedPatient, scopes: scopes)
        }
    }

    // MARK: - Search

    func decideSearch(_ request: FHIRRequest, type: String, context: SMARTScope.Context, patient: String?,
                      scopes: GrantedScopes, compartmentOwner: String? = nil) -> PolicyDecision {
        let match = scopes.matching(context: context, type: type, needed: .search)
        guard match != .none else { return .deny(.insufficientScope(reason: "missing_search_permission")) }
        var narrowing: [RequestTarget.QueryItem] = []
        var needsCheck = false

        for p in request.parameters {
            switch p.code {
            case "_include", "_revinclude":
                guard let reached = includeTarget(p, searchedType: type) else {
                    return .deny(.malformedRequest(reason: "bad_include"))
                }
                for t in reached {
                    guard scopes.matching(context: context, type: t, needed: .read) != .none
                        || scopes.matching(context: context, type: t, needed: .search) != .none
                    else { return .deny(.insufficientScope(reason: "include_type_not_granted")) }
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
        let check: ResponseCheck? = (needsCheck || !granular.isEmpty)
            ? ResponseCheck(patient: patient, granular: granular, readableOutsideCompartment: settings.readableOutsideCompartment)
            : nil
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
    func includeTarget(_ p: SearchParameter, searchedType: String) -> [String]? {
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

    // MARK: - Operations

    func decideOperation(_ request: FHIRRequest, context: SMARTScope.Context, patient: String?, scopes: GrantedScopes) -> PolicyDecision {
        guard let op = request.operation else { return .deny(.malformedRequest(reason: "operation_shape")) }
        let type = request.resourceType
        switch (op, request.interaction) {
        case ("everything", .operationInstance) where type == "Patient":
            if let patient, request.id != patient { return .deny(.insufficientScope(reason: "other_patient")) }
            guard scopes.scopes.contains(where: { $0.context == context && $0.resourceType == nil && $0.permissions.isSuperset(of: [.read, .search]) && $0.constraints.isEmpty })
            else { return .deny(.insufficientScope(reason: "everything_needs_all_types")) }
            return .allow("everything", context: context,
                          responseCheck: patient.map { ResponseCheck(patient: $0, readableOutsideCompartment: settings.readableOutsideCompartment) })
        case (let name, .operationType) where Self.terminologyOperations.contains(name) && ["ValueSet", "CodeSystem", "ConceptMap"].contains(type ?? ""):
            return .allow("terminology_operation", context: context)
        case ("validate", _):
            guard let type, scopes.matching(context: context, type: type, needed: .create) == .full
                || scopes.matching(context: context, type: type, needed: .update) == .full
            else { return .deny(.insufficientScope(reason: "validate_needs_write")) }
            return .allow("validate", context: context)
        case ("docref", .operationType) where type == "DocumentReference", ("lastn", .operationType) where type == "Observation":
            var asSearch = request
            asSearch.interaction = .searchType
            return decideSearch(asSearch, type: type!, context: context, patient: patient, scopes: scopes)
        default:
            // Bulk export and anything unknown: denied until a policy allows them.
            return .deny(.insufficientScope(reason: "operation_not_allowed"))
        }
    }

    // MARK: - Helpers

    func isReachableUnderPatient(_ type: String) -> Bool {
        PatientCompartment.contains(type: type) || settings.readableOutsideCompartment.contains(type) || settings.patientLinkedTypes.contains(type)
    }

    func granularCheck(_ match: ScopeMatch, type: String, patient: String?) -> ResponseCheck? {
        guard case .granular(let granted) = match else { return nil }
        return ResponseCheck(patient: patient, granular: [type: granted])
    }

    func responseCheck(patient: String, match: ScopeMatch, type: String) -> ResponseCheck {
        var check = ResponseCheck(patient: patient, readableOutsideCompartment: settings.readableOutsideCompartment)
        if case .granular(let granted) = match { check.granular[type] = granted }
        return check
    }
}

extension String {
    /// A granted value put into an OR-list must not split on its own commas.
    func replacingCommasEscaped() -> String {
        var out = ""
        for ch in self { if ch == "," { out += "\\," } else { out.append(ch) } }
        return out
    }
}
