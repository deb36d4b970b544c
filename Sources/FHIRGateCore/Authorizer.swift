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
        /// Whether a Patient whose `link.other` names the patient in context may be read
        /// (merged or linked records). Off unless a policy turns it on.
        public var followPatientLinks: Bool
        /// Who may start Bulk Data exports (policy `bulk_export`).
        public var bulk: BulkExportSettings

        public init(baseURL: String,
                    readableOutsideCompartment: Set<String> = ["Practitioner", "PractitionerRole", "Organization", "Location", "Medication"],
                    patientLinkedTypes: Set<String> = ["Device"], followPatientLinks: Bool = false, bulk: BulkExportSettings = .init()) {
            self.baseURL = baseURL
            self.readableOutsideCompartment = readableOutsideCompartment
            self.patientLinkedTypes = patientLinkedTypes
            self.followPatientLinks = followPatientLinks
            self.bulk = bulk
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
            var decision = decideRead(request, context: context, patient: pinnedPatient, scopes: scopes)
            // One resource's history with nothing left visible must look like a missing resource.
            if request.interaction == .historyInstance { decision.responseCheck?.hideWhenEmptied = true }
            return decision

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
                              responseCheck: pinnedPatient.map(compartmentCheck))
            }
            return decideSearch(request, type: type, context: context, patient: pinnedPatient, scopes: scopes, compartmentOwner: owner.id)

        case .pageContinuation where request.isSignedPageLink:
            // A page of a search this token's holder ran: re-checked entry by entry, as
            // the types it holds are not known from the link.
            let grants = scopes.scopes.filter { $0.context == context && !$0.permissions.intersection([.read, .search]).isEmpty }
            guard !grants.isEmpty else { return .deny(.insufficientScope(reason: "no_matching_scope")) }
            var check = pinnedPatient.map(compartmentCheck) ?? ResponseCheck(patient: nil)
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
                return decidePatientWrite(request, type: type, patient: patient, context: context)
            }
            return .allow("scope_write", context: context)

        case .batchOrTransaction:
            // Entries are authorized one by one by `BundleAuthorizer` once the body is read.
            return .allow("bundle_entries_checked", context: context)

        case .bulkStatus, .bulkFile:
            // Ownership and scope coverage are checked against the job record (BulkJobPhase).
            guard settings.bulk.contexts.contains(context) else { return .deny(.insufficientScope(reason: "bulk_export_context")) }
            return .allow("bulk_job_owner_checked", context: context)

        case .operationSystem, .operationType, .operationInstance:
            if request.operation == "export" { return decideExport(request, token: token, context: context) }
            return decideOperation(request, context: context, patient: pinnedPatient, scopes: scopes)
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

    /// What every answer under a `patient/` scope is held to.
    public func compartmentCheck(_ patient: String) -> ResponseCheck {
        ResponseCheck(patient: patient, readableOutsideCompartment: settings.readableOutsideCompartment,
                      followPatientLinks: settings.followPatientLinks)
    }

    func responseCheck(patient: String, match: ScopeMatch, type: String) -> ResponseCheck {
        var check = compartmentCheck(patient)
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
