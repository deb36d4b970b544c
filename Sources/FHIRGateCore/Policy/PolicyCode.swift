/// The names policies use for what a request does: FHIR CapabilityStatement interaction
/// codes (`read`, `search-type`, `history-instance`, …) and `$operation` names. One code
/// per request, so exposure lists and rules read like a CapabilityStatement.
public enum PolicyCode {
    /// Every interaction code a policy may name.
    public static let interactions: Set<String> = [
        "read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create", "search-type",
        "search-system", "history-system", "batch", "transaction",
    ]

    /// Operations a policy may name (FHIR R4 core, US Core and Bulk Data); a typo is an error.
    public static let operations: Set<String> = [
        "everything", "export", "validate", "meta", "meta-add", "meta-delete", "expand", "lookup", "validate-code", "translate",
        "subsumes", "closure", "evaluate-measure", "data-requirements", "collect-data", "submit-data", "care-gaps", "populate",
        "populatehtml", "populatelink", "process-message", "convert", "graphql", "apply", "match", "document", "lastn", "stats",
        "find", "implements", "conforms", "versions", "docref", "member-match", "status", "reindex", "purge",
    ]

    /// The code of a classified request; nil for public endpoints.
    public static func of(_ request: FHIRRequest) -> String? {
        switch request.interaction {
        case .capabilities, .smartConfiguration: nil
        case .read: "read"
        case .vread: "vread"
        case .historyInstance: "history-instance"
        case .historyType: "history-type"
        case .historySystem: "history-system"
        case .create, .conditionalCreate: "create"
        case .update, .conditionalUpdate: "update"
        case .patch, .conditionalPatch: "patch"
        case .delete, .conditionalDelete: "delete"
        case .searchType, .searchCompartment, .pageContinuation: "search-type"
        case .searchSystem: "search-system"
        case .batchOrTransaction: "batch"
        case .operationSystem, .operationType, .operationInstance: "$" + (request.operation ?? "")
        case .bulkStatus, .bulkFile: "$export"
        }
    }

    /// `transaction` and `batch` are one interaction to the gateway (the Bundle's type
    /// decides); a policy may name either.
    public static func normalized(_ code: String) -> String {
        code == "transaction" ? "batch" : code
    }

    /// Whether `code` is something a policy may name (`$op` names checked against the list).
    public static func isKnown(_ code: String) -> Bool {
        if code.hasPrefix("$") { return operations.contains(String(code.dropFirst())) }
        return interactions.contains(code)
    }
}
