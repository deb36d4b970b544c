/// Bulk Data kick-off (`$export` at system, `Patient` and `Group/{id}` level): only the
/// contexts, clients and groups the policy names (default: `system/` scopes, any client,
/// any group), and only types the token's scopes cover — `_type` beyond them is refused,
/// and without `_type` the gateway asks for exactly the granted types.
extension Authorizer {
    public struct BulkExportSettings: Sendable, Equatable {
        public var contexts: Set<SMARTScope.Context> = [.system]
        /// `client_id`s allowed to export; nil means any.
        public var clients: Set<String>?
        /// Group ids that may be exported; nil means any.
        public var groups: Set<String>?

        public init(contexts: Set<SMARTScope.Context> = [.system], clients: Set<String>? = nil, groups: Set<String>? = nil) {
            self.contexts = contexts
            self.clients = clients
            self.groups = groups
        }
    }

    static let exportParameters: Set<String> = ["_type", "_typeFilter", "_outputFormat", "_since", "_elements", "includeAssociatedData"]
    static let ndjsonFormats: Set<String> = ["application/fhir+ndjson", "application/ndjson", "ndjson"]

    func decideExport(_ request: FHIRRequest, token: AccessToken, context: SMARTScope.Context) -> PolicyDecision {
        let bulk = settings.bulk
        // Never under patient/ scopes: `Patient/$export` is every patient's data.
        guard context != .patient, bulk.contexts.contains(context) else { return .deny(.insufficientScope(reason: "bulk_export_context")) }
        if let clients = bulk.clients, !(token.clientID.map(clients.contains) ?? false) {
            return .deny(.insufficientScope(reason: "bulk_export_client"))
        }
        switch (request.interaction, request.resourceType) {
        case (.operationSystem, nil), (.operationType, "Patient"?):
            break
        case (.operationInstance, "Group"?):
            if let groups = bulk.groups, !groups.contains(request.id ?? "") { return .deny(.insufficientScope(reason: "bulk_export_group")) }
        default:
            return .deny(.malformedRequest(reason: "bulk_export_level"))
        }
        // Parameters in a POST body are not read by the gateway: only GET is accepted.
        guard request.method == .GET else { return .deny(.methodNotAllowed(reason: "bulk_export_method")) }

        let readable = token.scopes.scopes.filter { $0.context == context && $0.permissions.contains(.read) && $0.constraints.isEmpty }
        let wildcard = readable.contains { $0.resourceType == nil }
        let granted = Set(readable.compactMap(\.resourceType))
        guard wildcard || !granted.isEmpty else { return .deny(.insufficientScope(reason: "bulk_export_no_types")) }

        var requested: [String]?
        var filters: [String] = []
        var query: [RequestTarget.QueryItem] = []
        for p in request.parameters {
            guard Self.exportParameters.contains(p.rawName) else { return .deny(.malformedRequest(reason: "bulk_export_parameter")) }
            switch p.rawName {
            case "_type":
                for t in p.orValues {
                    guard R4Tables.isResourceType(t) else { return .deny(.malformedRequest(reason: "bulk_export_unknown_type")) }
                    guard wildcard || granted.contains(t) else { return .deny(.insufficientScope(reason: "bulk_export_type_not_granted")) }
                    if !(requested ?? []).contains(t) { requested = (requested ?? []) + [t] }
                }
            case "_typeFilter":
                for f in p.orValues {
                    let t = String(f.prefix { $0 != "?" })
                    guard R4Tables.isResourceType(t) else { return .deny(.malformedRequest(reason: "bulk_export_unknown_type")) }
                    guard wildcard || granted.contains(t) else { return .deny(.insufficientScope(reason: "bulk_export_type_not_granted")) }
                    filters.append(t)
                    query.append(.init(name: p.rawName, value: f))
                }
            case "_outputFormat":
                // Every alias the spec lists, sent upstream in its full form (an unencoded
                // `+` arrives as a space).
                guard Self.ndjsonFormats.contains(String(p.value.lowercased().map { $0 == " " ? "+" : $0 })) else { return .deny(.malformedRequest(reason: "bulk_export_output_format")) }
                query.append(.init(name: "_outputFormat", value: "application/fhir+ndjson"))
            default:
                query.append(.init(name: p.rawName, value: p.value))
            }
        }
        if let requested, filters.contains(where: { !requested.contains($0) }) {
            return .deny(.malformedRequest(reason: "bulk_export_type_filter_outside_type"))
        }
        let types = requested ?? (wildcard ? nil : granted.sorted())
        if let types { query.insert(.init(name: "_type", value: types.joined(separator: ",")), at: 0) }
        var decision = PolicyDecision.allow(requested == nil && types != nil ? "bulk_export_types_added" : "bulk_export", context: context)
        decision.upstreamQuery = query
        decision.bulkTypes = types
        decision.isBulkKickoff = true
        return decision
    }
}
