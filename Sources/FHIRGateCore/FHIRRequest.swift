/// A request classified into exactly one FHIR interaction. Built only by
/// `RequestClassifier`; authorization and forwarding read nothing else.
public struct FHIRRequest: Sendable, Equatable {
    public var method: HTTPMethodName
    public var interaction: Interaction
    /// The resource type the interaction is about (the compartment search's target type;
    /// nil for `Patient/x/*`, system-level interactions and `metadata`).
    public var resourceType: String?
    public var id: String?
    public var versionId: String?
    /// Operation name without the `$`.
    public var operation: String?
    /// For compartment searches: the compartment owner (`Patient/123`).
    public var compartment: ReferenceValue?
    /// Query parameters followed by `_search` form parameters, in order.
    public var parameters: [SearchParameter]
    /// The `If-None-Exist` criteria of a conditional create.
    public var conditionalCriteria: [SearchParameter]
    /// Whether the parameters came (partly) from a `_search` form body.
    public var isFormSearch: Bool
    /// A paging link the gateway itself issued to this token's holder, verified: it may
    /// be followed under the authorization of the search that produced it.
    public var isSignedPageLink = false
    /// For `bulkFile`: which file of the job (`0`, `1`, … or `withheld`).
    public var bulkFile: String?

    public init(method: HTTPMethodName, interaction: Interaction, resourceType: String? = nil, id: String? = nil,
                versionId: String? = nil, operation: String? = nil, compartment: ReferenceValue? = nil,
                parameters: [SearchParameter] = [], conditionalCriteria: [SearchParameter] = [], isFormSearch: Bool = false,
                bulkFile: String? = nil) {
        self.method = method
        self.interaction = interaction
        self.resourceType = resourceType
        self.id = id
        self.versionId = versionId
        self.operation = operation
        self.compartment = compartment
        self.parameters = parameters
        self.conditionalCriteria = conditionalCriteria
        self.isFormSearch = isFormSearch
        self.bulkFile = bulkFile
    }

    /// The FHIR path (relative to a base) that this request names, re-encoded from the
    /// parsed parts.
    public var pathSegments: [String] {
        var s: [String] = []
        switch interaction {
        case .capabilities: return ["metadata"]
        case .smartConfiguration: return [".well-known", "smart-configuration"]
        case .bulkStatus: return [BulkExportJob.statusSegment, id ?? ""]
        case .bulkFile: return [BulkExportJob.fileSegment, id ?? "", bulkFile ?? ""]
        case .searchCompartment:
            if let c = compartment { s = [c.type ?? "Patient", c.id, resourceType ?? "*"] }
            if isFormSearch { s.append("_search") }
            return s
        default: break
        }
        if let resourceType { s.append(resourceType) }
        if let id { s.append(id) }
        switch interaction {
        case .historyInstance, .historyType, .historySystem: s.append("_history")
        case .vread: s += ["_history", versionId ?? ""]
        case .searchType, .searchSystem: if isFormSearch { s.append("_search") }
        default: break
        }
        if let operation { s.append("$" + operation) }
        return s
    }

    /// Whether the decision needs the body: writes and Bundles, and search-like
    /// operations sent by POST (their `Parameters` body selects data).
    public var bodyIsChecked: Bool {
        interaction.isWrite || OperationParameters.bodyCarriesParameters(self)
    }

    /// First value of a parameter by its full name.
    public func parameter(_ name: String) -> SearchParameter? {
        parameters.first { $0.rawName == name }
    }
}

/// The HTTP methods the gateway handles; anything else is refused before classification.
public enum HTTPMethodName: String, Sendable, Hashable {
    case GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS
}
