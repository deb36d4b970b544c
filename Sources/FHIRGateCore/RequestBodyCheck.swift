import Foundation

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
            guard let resource = Self.parseResource(body) else { return .deny(.malformedRequest(reason: "body_not_fhir_json")) }
            if let denial = checkResource(resource, request: request, patient: decision.context == .patient ? token?.patient : nil) {
                return denial
            }
            return decision
        case .patch, .conditionalPatch:
            // Patch documents are checked by the response guard issue (pre-fetch); under
            // patient scopes the authorizer already refuses them.
            return decision
        case .batchOrTransaction:
            return checkBundle(body, token: token)
        default:
            return decision
        }
    }

    static func parseResource(_ body: [UInt8]) -> ResourceInspector.JSONObject? {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? ResourceInspector.JSONObject
    }

    func checkResource(_ resource: ResourceInspector.JSONObject, request: FHIRRequest, patient: String?) -> PolicyDecision? {
        guard let type = resource["resourceType"] as? String, type == request.resourceType else {
            return .deny(.malformedRequest(reason: "body_type_mismatch"))
        }
        if request.interaction == .update {
            guard resource["id"] as? String == request.id else { return .deny(.malformedRequest(reason: "body_id_mismatch")) }
        }
        if let patient, !ResourceInspector.isInCompartment(resource, patient: patient, base: authorizer.settings.baseURL) {
            return .deny(.insufficientScope(reason: "body_outside_compartment"))
        }
        return nil
    }

    /// Every entry is authorized like a standalone request; one denial denies all.
    func checkBundle(_ body: [UInt8], token: AccessToken?) -> PolicyDecision {
        guard let bundle = Self.parseResource(body), bundle["resourceType"] as? String == "Bundle",
              let kind = bundle["type"] as? String, kind == "batch" || kind == "transaction" else {
            return .deny(.malformedRequest(reason: "not_a_batch_or_transaction"))
        }
        let entries = bundle["entry"] as? [Any] ?? []
        var contexts = Set<SMARTScope.Context>()
        var patientChecked = false
        for case let entry as ResourceInspector.JSONObject in entries {
            guard let req = entry["request"] as? ResourceInspector.JSONObject,
                  let methodText = req["method"] as? String, let method = HTTPMethodName(rawValue: methodText), method != .OPTIONS,
                  let url = req["url"] as? String, !url.isEmpty else {
                return .deny(.malformedRequest(reason: "bundle_entry_request"))
            }
            if let r = entry["resource"] as? ResourceInspector.JSONObject, r["resourceType"] as? String == "Bundle" {
                return .deny(.malformedRequest(reason: "nested_bundle"))
            }
            let relative = url.hasPrefix(authorizer.settings.baseURL + "/") ? String(url.dropFirst(authorizer.settings.baseURL.count)) : "/" + url
            let classified: FHIRRequest
            do {
                let target = try RequestTarget.parse(relative)
                let ifNoneExist = req["ifNoneExist"] as? String
                classified = try classifier.classify(method: method, segments: target.segments, query: target.query, ifNoneExist: ifNoneExist,
                                                     formBody: nil)
            } catch {
                return .deny(.malformedRequest(reason: "bundle_entry_\(error.reason)"))
            }
            guard classified.interaction != .batchOrTransaction, !classified.interaction.isPublic else {
                return .deny(.malformedRequest(reason: "bundle_entry_interaction"))
            }
            var decision = authorizer.decide(classified, token: token)
            guard decision.isAllowed else { return decision }
            // Narrowing cannot be applied inside an entry's URL by us: refuse rather than
            // forward an entry broader than what was authorized.
            guard decision.narrowing.isEmpty else { return .deny(.insufficientScope(reason: "bundle_entry_needs_narrowing")) }
            if let resource = entry["resource"] as? ResourceInspector.JSONObject,
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
                      responseCheck: patient.map { ResponseCheck(patient: $0, readableOutsideCompartment: authorizer.settings.readableOutsideCompartment) })
    }
}
