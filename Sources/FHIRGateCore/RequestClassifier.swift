/// Turns a raw request into exactly one `FHIRRequest`, or refuses it.
///
/// Pure and allocation-light: it runs for every request before authentication, and it
/// is the fuzzing target for the request side. Anything it cannot classify with
/// certainty is a `GatewayError`, never a guess.
public struct RequestClassifier: Sendable {
    /// Compartment types FHIR R4 defines (`[base]/[CompartmentType]/[id]/[type]`).
    static let compartmentTypes: Set<String> = ["Patient", "Encounter", "RelatedPerson", "Practitioner", "Device"]

    /// Parameters whose repetition has no FHIR meaning; a repeated one is a conflict.
    static let singleValuedParameters: Set<String> = [
        "_count", "_format", "_pretty", "_summary", "_sort", "_total", "_elements", "_contained",
        "_containedType", "_getpages", "_getpagesoffset", "_bundletype", "_id:missing", "_since", "_at",
        "_outputFormat", "_type", "_typeFilter", "mode",
    ]

    public init() {}

    /// - Parameters:
    ///   - method: the request method.
    ///   - segments: the path below the route's base.
    ///   - query: the parsed query.
    ///   - ifNoneExist: the `If-None-Exist` header value, if any.
    ///   - formBody: the parsed body of a `POST …/_search` with a form content type.
    public func classify(method: HTTPMethodName, segments: [String], query: [RequestTarget.QueryItem],
                         ifNoneExist: String? = nil, formBody: [RequestTarget.QueryItem]? = nil) throws(GatewayError) -> FHIRRequest {
        var parameters = query.map { SearchParameter(name: $0.name, value: $0.value) }
        let isRead = method == .GET || method == .HEAD
        let hasQuery = !query.isEmpty

        func merge(_ interaction: Interaction) throws(GatewayError) -> Bool {
            // POST …/_search: the form body's parameters join the query's.
            guard method == .POST else { return false }
            guard let formBody else { throw .malformedRequest(reason: "search_body_not_form") }
            parameters += formBody.map { SearchParameter(name: $0.name, value: $0.value) }
            return true
        }

        var request: FHIRRequest
        switch segments.count {
        case 0:
            switch method {
            case .GET, .HEAD:
                let paging = parameters.contains { $0.code == "_getpages" }
                request = FHIRRequest(method: method, interaction: paging ? .pageContinuation : .searchSystem)
            case .POST:
                guard !hasQuery || parameters.allSatisfy({ $0.code == "_format" || $0.code == "_pretty" }) else {
                    throw .malformedRequest(reason: "batch_with_query")
                }
                request = FHIRRequest(method: method, interaction: .batchOrTransaction)
            default: throw .methodNotAllowed(reason: "method_at_base")
            }
        case 1:
            let s = segments[0]
            if s == "metadata" {
                guard isRead else { throw .methodNotAllowed(reason: "method_metadata") }
                request = FHIRRequest(method: method, interaction: .capabilities)
            } else if s == "_history" {
                guard isRead else { throw .methodNotAllowed(reason: "method_history") }
                request = FHIRRequest(method: method, interaction: .historySystem)
            } else if s == "_search" {
                guard method == .POST || isRead else { throw .methodNotAllowed(reason: "method_search") }
                let form = try merge(.searchSystem)
                request = FHIRRequest(method: method, interaction: .searchSystem, isFormSearch: form)
            } else if let op = try Self.operationName(s) {
                guard isRead || method == .POST else { throw .methodNotAllowed(reason: "method_operation") }
                request = FHIRRequest(method: method, interaction: .operationSystem, operation: op)
            } else {
                let type = try Self.resourceType(s)
                switch method {
                case .GET, .HEAD: request = FHIRRequest(method: method, interaction: .searchType, resourceType: type)
                case .POST:
                    if let ifNoneExist {
                        let criteria = try RequestTarget.parseQuery(Array(ifNoneExist.utf8))
                        guard !criteria.isEmpty else { throw .malformedRequest(reason: "empty_if_none_exist") }
                        request = FHIRRequest(method: method, interaction: .conditionalCreate, resourceType: type,
                                              conditionalCriteria: criteria.map { SearchParameter(name: $0.name, value: $0.value) })
                    } else {
                        request = FHIRRequest(method: method, interaction: .create, resourceType: type)
                    }
                case .PUT, .PATCH, .DELETE:
                    // A conditional write without criteria would match everything.
                    let criteria = parameters.filter { !["_format", "_pretty"].contains($0.code) }
                    guard !criteria.isEmpty else { throw .malformedRequest(reason: "conditional_without_criteria") }
                    let interaction: Interaction = method == .PUT ? .conditionalUpdate : method == .PATCH ? .conditionalPatch : .conditionalDelete
                    request = FHIRRequest(method: method, interaction: interaction, resourceType: type)
                case .OPTIONS: throw .methodNotAllowed(reason: "method_options")
                }
            }
        case 2 where segments[0] == BulkExportJob.statusSegment:
            // A job the gateway registered at kick-off (its own URL, never the upstream's).
            guard BulkExportJob.isValidID(segments[1]) else { throw .notFound(reason: "bulk_job_id_shape") }
            guard isRead || method == .DELETE else { throw .methodNotAllowed(reason: "method_bulk_status") }
            request = FHIRRequest(method: method, interaction: .bulkStatus, id: segments[1])
        case 3 where segments[0] == BulkExportJob.fileSegment:
            guard BulkExportJob.isValidID(segments[1]) else { throw .notFound(reason: "bulk_job_id_shape") }
            guard isRead else { throw .methodNotAllowed(reason: "method_bulk_file") }
            request = FHIRRequest(method: method, interaction: .bulkFile, id: segments[1], bulkFile: segments[2])
        case 2:
            if segments == [".well-known", "smart-configuration"] {
                guard isRead else { throw .methodNotAllowed(reason: "method_smart_configuration") }
                request = FHIRRequest(method: method, interaction: .smartConfiguration)
                break
            }
            let type = try Self.resourceType(segments[0])
            let s = segments[1]
            if s == "_search" {
                guard method == .POST || isRead else { throw .methodNotAllowed(reason: "method_search") }
                let form = try merge(.searchType)
                request = FHIRRequest(method: method, interaction: .searchType, resourceType: type, isFormSearch: form)
            } else if s == "_history" {
                guard isRead else { throw .methodNotAllowed(reason: "method_history") }
                request = FHIRRequest(method: method, interaction: .historyType, resourceType: type)
            } else if let op = try Self.operationName(s) {
                guard isRead || method == .POST else { throw .methodNotAllowed(reason: "method_operation") }
                request = FHIRRequest(method: method, interaction: .operationType, resourceType: type, operation: op)
            } else {
                let id = try Self.id(s)
                let interaction: Interaction
                switch method {
                case .GET, .HEAD: interaction = .read
                case .PUT: interaction = .update
                case .PATCH: interaction = .patch
                case .DELETE: interaction = .delete
                case .POST, .OPTIONS: throw .methodNotAllowed(reason: "method_instance")
                }
                request = FHIRRequest(method: method, interaction: interaction, resourceType: type, id: id)
            }
        case 3:
            let type = try Self.resourceType(segments[0])
            let id = try Self.id(segments[1])
            let s = segments[2]
            if s == "_history" {
                guard isRead else { throw .methodNotAllowed(reason: "method_history") }
                request = FHIRRequest(method: method, interaction: .historyInstance, resourceType: type, id: id)
            } else if let op = try Self.operationName(s) {
                guard isRead || method == .POST else { throw .methodNotAllowed(reason: "method_operation") }
                request = FHIRRequest(method: method, interaction: .operationInstance, resourceType: type, id: id, operation: op)
            } else {
                guard Self.compartmentTypes.contains(type) else { throw .malformedRequest(reason: "not_a_compartment") }
                guard isRead else { throw .methodNotAllowed(reason: "method_compartment") }
                let target = s == "*" ? nil : try Self.resourceType(s)
                request = FHIRRequest(method: method, interaction: .searchCompartment, resourceType: target,
                                      compartment: ReferenceValue(type: type, id: id))
            }
        case 4:
            let type = try Self.resourceType(segments[0])
            let id = try Self.id(segments[1])
            if segments[2] == "_history" {
                guard isRead else { throw .methodNotAllowed(reason: "method_history") }
                let vid = try Self.id(segments[3])
                request = FHIRRequest(method: method, interaction: .vread, resourceType: type, id: id, versionId: vid)
            } else if segments[3] == "_search" {
                guard Self.compartmentTypes.contains(type) else { throw .malformedRequest(reason: "not_a_compartment") }
                guard method == .POST || isRead else { throw .methodNotAllowed(reason: "method_search") }
                let target = segments[2] == "*" ? nil : try Self.resourceType(segments[2])
                let form = try merge(.searchCompartment)
                request = FHIRRequest(method: method, interaction: .searchCompartment, resourceType: target,
                                      compartment: ReferenceValue(type: type, id: id), isFormSearch: form)
            } else {
                throw .malformedRequest(reason: "path_shape")
            }
        default:
            throw .malformedRequest(reason: "path_shape")
        }
        request.parameters = parameters
        // Bulk Data v2: comma-list parameters of a kick-off may be repeated (one list).
        try Self.checkParameters(parameters, repeatable: request.operation == "export" ? ["_type", "_typeFilter"] : [])
        return request
    }

    static func resourceType(_ s: String) throws(GatewayError) -> String {
        guard R4Tables.isResourceType(s) else { throw .malformedRequest(reason: "unknown_resource_type") }
        return s
    }

    static func id(_ s: String) throws(GatewayError) -> String {
        guard FHIRId.isValid(s) else { throw .malformedRequest(reason: "invalid_id") }
        return s
    }

    /// `$name` → `name`; nil when `s` is not an operation; an error when it is a bad one.
    static func operationName(_ s: String) throws(GatewayError) -> String? {
        guard s.hasPrefix("$") else { return nil }
        let name = s.dropFirst()
        guard let first = name.utf8.first, (first >= 0x61 && first <= 0x7A) || (first >= 0x41 && first <= 0x5A),
              name.utf8.count <= 64,
              name.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D })
        else { throw .malformedRequest(reason: "invalid_operation_name") }
        return String(name)
    }

    /// Refuses parameters that cannot be read one way only.
    static func checkParameters(_ parameters: [SearchParameter], repeatable: Set<String> = []) throws(GatewayError) {
        var seen = Set<String>()
        for p in parameters {
            if singleValuedParameters.contains(p.rawName), !repeatable.contains(p.rawName) {
                guard seen.insert(p.rawName).inserted else { throw .malformedRequest(reason: "duplicate_parameter") }
            }
            if p.rawName == "access_token" { throw .malformedRequest(reason: "token_in_query") }
            guard !p.code.isEmpty else { throw .malformedRequest(reason: "empty_parameter_code") }
        }
    }
}
