/// Checks a write's body against the classified request and the decision: the body's
/// resource type matches the URL, an update's id matches, and under `patient/` scopes
/// the new content belongs to the patient in context. Batch and transaction Bundles are
/// checked entry by entry as if each entry had been sent alone.
public struct RequestBodyCheck: Sendable {
    public let authorizer: Authorizer
    let classifier = RequestClassifier()

    public init(authorizer: Authorizer) {
        self.authorizer = authorizer
    }

    /// Returns the decision adjusted for the body (deny if the body breaks a rule).
    public func check(_ request: FHIRRequest, body: [UInt8], token: AccessToken?, decision: PolicyDecision) -> PolicyDecision {
        guard decision.isAllowed else { return decision }
        switch request.interaction {
        case .create, .conditionalCreate, .update, .conditionalUpdate:
            guard let resource = ResourceInspector.parse(body) else { return .deny(.malformedRequest(reason: "body_not_fhir_json")) }
            if let denial = checkResource(resource, request: request, patient: decision.context == .patient ? token?.patient : nil) {
                return denial
            }
            return decision
        case .patch, .conditionalPatch:
            // Under a patient/ scope the current version is checked upstream first; the
            // patch itself must not repoint the compartment references.
            guard decision.context == .patient, let type = request.resourceType else { return decision }
            if let error = PatchDocumentCheck.check(body, type: type) { return .deny(error) }
            return decision
        case .batchOrTransaction:
            return checkBundle(body, token: token)
        case .operationType where OperationParameters.bodyCarriesParameters(request):
            guard !body.isEmpty else { return decision }
            guard let parameters = ResourceInspector.parse(body) else { return .deny(.malformedRequest(reason: "body_not_fhir_json")) }
            return decideWithBody(request, parameters: parameters, token: token)
        default:
            return decision
        }
    }

    func checkResource(_ resource: JSONValue, request: FHIRRequest, patient: String?) -> PolicyDecision? {
        guard let type = resource["resourceType"]?.string, type == request.resourceType else {
            return .deny(.malformedRequest(reason: "body_type_mismatch"))
        }
        if request.interaction == .update {
            guard resource["id"]?.string == request.id else { return .deny(.malformedRequest(reason: "body_id_mismatch")) }
        }
        if let patient, !ResourceInspector.isInCompartment(resource, patient: patient, base: authorizer.settings.baseURL) {
            return .deny(.insufficientScope(reason: "body_outside_compartment"))
        }
        return nil
    }

    /// A search-like operation sent by POST, decided on its query and body parameters
    /// together (what the upstream will apply).
    func decideWithBody(_ request: FHIRRequest, parameters: JSONValue, token: AccessToken?) -> PolicyDecision {
        guard let type = request.resourceType, let extra = OperationParameters.searchParameters(parameters, type: type) else {
            return .deny(.malformedRequest(reason: "operation_parameters_shape"))
        }
        var whole = request
        whole.parameters += extra
        do {
            try RequestClassifier.checkParameters(whole.parameters)
        } catch {
            return .deny(error)
        }
        return authorizer.decide(whole, token: token)
    }

    /// Every entry is authorized like a standalone request; one denial denies all.
    func checkBundle(_ body: [UInt8], token: AccessToken?) -> PolicyDecision {
        guard let bundle = ResourceInspector.parse(body), bundle["resourceType"]?.isString("Bundle") == true,
              let kind = bundle["type"]?.string, kind == "batch" || kind == "transaction" else {
            return .deny(.malformedRequest(reason: "not_a_batch_or_transaction"))
        }
        if let e = bundle["entry"], !e.isArray { return .deny(.malformedRequest(reason: "bundle_entry_shape")) }
        let entries = bundle["entry"]?.elements.map { $0 } ?? []
        var contexts = Set<SMARTScope.Context>()
        var patientChecked = false
        for entry in entries {
            // Anything but an object with a request is an entry the gateway cannot check.
            guard entry.isObject, let req = entry["request"], req.isObject,
                  let methodText = req["method"]?.string, let method = HTTPMethodName(rawValue: methodText), method != .OPTIONS,
                  let url = req["url"]?.string, !url.isEmpty else {
                return .deny(.malformedRequest(reason: "bundle_entry_request"))
            }
            if let r = entry["resource"], !r.isObject || r["resourceType"]?.isString("Bundle") == true {
                return .deny(.malformedRequest(reason: "nested_bundle"))
            }
            let relative = url.hasPrefix(authorizer.settings.baseURL + "/") ? String(url.dropFirst(authorizer.settings.baseURL.count)) : "/" + url
            let classified: FHIRRequest
            do {
                let target = try RequestTarget.parse(relative)
                let ifNoneExist = req["ifNoneExist"]?.string
                classified = try classifier.classify(method: method, segments: target.segments, query: target.query, ifNoneExist: ifNoneExist,
                                                     formBody: nil)
            } catch {
                return .deny(.malformedRequest(reason: "bundle_entry_\(error.reason)"))
            }
            guard classified.interaction != .batchOrTransaction, !classified.interaction.isPublic else {
                return .deny(.malformedRequest(reason: "bundle_entry_interaction"))
            }
            var decision = authorizer.decide(classified, token: token)
            if decision.isAllowed, OperationParameters.bodyCarriesParameters(classified), let parameters = entry["resource"] {
                decision = decideWithBody(classified, parameters: parameters, token: token)
            }
            guard decision.isAllowed else { return decision }
            // Narrowing cannot be applied inside an entry's URL by us: refuse rather than
            // forward an entry broader than what was authorized.
            guard decision.narrowing.isEmpty else { return .deny(.insufficientScope(reason: "bundle_entry_needs_narrowing")) }
            // Nor can the current version of an entry's target be fetched first.
            guard decision.writePrecheck == nil else { return .deny(.insufficientScope(reason: "bundle_entry_needs_precheck")) }
            if let resource = entry["resource"],
               [.create, .conditionalCreate, .update, .conditionalUpdate].contains(classified.interaction) {
                if let denial = checkResource(resource, request: classified, patient: decision.context == .patient ? token?.patient : nil) {
                    return denial
                }
            } else if [.create, .conditionalCreate, .update, .conditionalUpdate].contains(classified.interaction) {
                return .deny(.malformedRequest(reason: "bundle_entry_without_resource"))
            }
            if let c = decision.context { contexts.insert(c) }
            patientChecked = patientChecked || decision.responseCheck?.patient != nil
            decision.narrowing = []
        }
        let patient = contexts.contains(.patient) ? token?.patient : nil
        return .allow("bundle_entries_allowed", context: contexts.contains(.patient) ? .patient : contexts.first,
                      responseCheck: patient.map(authorizer.compartmentCheck))
    }
}
