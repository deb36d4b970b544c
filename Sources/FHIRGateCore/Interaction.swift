/// The FHIR RESTful interaction a request asks for (FHIR R4 http.html, plus the
/// SMART/Bulk endpoints a gateway has to recognise).
public enum Interaction: String, Sendable, Hashable, CaseIterable {
    case capabilities            // GET [base]/metadata
    case smartConfiguration      // GET [base]/.well-known/smart-configuration
    case read                    // GET [type]/[id]
    case vread                   // GET [type]/[id]/_history/[vid]
    case historyInstance         // GET [type]/[id]/_history
    case historyType             // GET [type]/_history
    case historySystem           // GET _history
    case create                  // POST [type]
    case conditionalCreate       // POST [type] + If-None-Exist
    case update                  // PUT [type]/[id]
    case conditionalUpdate       // PUT [type]?search
    case patch                   // PATCH [type]/[id]
    case conditionalPatch        // PATCH [type]?search
    case delete                  // DELETE [type]/[id]
    case conditionalDelete       // DELETE [type]?search
    case searchType              // GET [type]?…, POST [type]/_search
    case searchSystem            // GET [base]?…, POST _search
    case searchCompartment       // GET Patient/[id]/[type|*]
    case batchOrTransaction      // POST [base] with a Bundle
    case operationSystem         // [base]/$op
    case operationType           // [type]/$op
    case operationInstance       // [type]/[id]/$op
    case pageContinuation        // server-issued paging links (e.g. `?_getpages=`)
    case bulkStatus              // GET|DELETE [base]/$export-status/[job] (the gateway's job URL)
    case bulkFile                // GET [base]/$export-file/[job]/[n]

    /// Interactions answered without a token.
    public var isPublic: Bool { self == .capabilities || self == .smartConfiguration }

    /// Whether this interaction modifies data.
    public var isWrite: Bool {
        switch self {
        case .create, .conditionalCreate, .update, .conditionalUpdate, .patch, .conditionalPatch,
             .delete, .conditionalDelete, .batchOrTransaction:
            true
        default: false
        }
    }
}
