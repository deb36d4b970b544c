/// The search-like operations (`$docref`, `$lastn`) take their parameters from the query
/// or, by POST, from a `Parameters` body. A body parameter selects data exactly as the
/// same query parameter would, so the gateway reads it as one: sent by POST, the
/// operation is decided on the query's parameters and the body's together. Anything in
/// the body that cannot be read as a search parameter with certainty is refused.
public enum OperationParameters {
    /// Search-like operations and the type each is defined on.
    public static let searchOperations: [String: String] = ["docref": "DocumentReference", "lastn": "Observation"]

    /// Whether `request` is a search-like operation whose body carries parameters.
    public static func bodyCarriesParameters(_ request: FHIRRequest) -> Bool {
        guard request.method == .POST, request.interaction == .operationType, let op = request.operation,
              let type = searchOperations[op] else { return false }
        return request.resourceType == type
    }

    /// The body's parameters as search parameters; nil when the body is not a
    /// `Parameters` resource of `name` + one `value[x]` per parameter, or when a
    /// parameter that selects data has a value that is not a primitive or a reference.
    public static func searchParameters(_ parameters: JSONValue, type: String) -> [SearchParameter]? {
        guard parameters.isObject, parameters["resourceType"]?.isString("Parameters") == true else { return nil }
        guard let list = parameters["parameter"] else { return [] }
        guard list.isArray else { return nil }
        var out: [SearchParameter] = []
        for p in list.elements {
            guard p.isObject, let name = p["name"]?.string, !name.isEmpty else { return nil }
            var value: JSONValue?
            for (key, v) in p.members {
                guard let k = key.string else { return nil }
                if k == "name" { continue }
                // `part`, `resource`, extensions: nothing a search parameter can say.
                guard k.hasPrefix("value"), value == nil else { return nil }
                value = v
            }
            guard let value else { return nil }
            switch value.kind {
            case .string:
                guard let s = value.string else { return nil }
                out.append(SearchParameter(name: name, value: s))
            case .number, .bool:
                guard let s = String(validating: value.rawBytes, as: UTF8.self) else { return nil }
                out.append(SearchParameter(name: name, value: s))
            case .object:
                if let reference = value["reference"]?.string {
                    out.append(SearchParameter(name: name, value: reference))
                    continue
                }
                // A coded or structured value (`type` of `$docref` is a Coding) may
                // narrow; it must not be a parameter that binds or reaches other data.
                let parsed = SearchParameter(name: name, value: "")
                guard parsed.chain == nil, parsed.modifier == nil, !parsed.code.hasPrefix("_"),
                      !PatientCompartment.bindingParameters(for: type).contains(parsed.code) else { return nil }
            case .array, .null:
                return nil
            }
        }
        return out
    }
}
