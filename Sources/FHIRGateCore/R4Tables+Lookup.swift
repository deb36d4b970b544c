/// One search parameter that places resources of a type in the Patient compartment.
public struct CompartmentParameter: Sendable, Hashable {
    /// The search parameter's code, e.g. `subject`.
    public let name: String
    /// The FHIRPath it evaluates on that type, e.g. `Observation.subject`.
    public let expression: String
}

/// The R4 search parameter types.
public enum SearchParameterType: String, Sendable {
    case number, date, string, token, reference, composite, quantity, uri, special
}

/// A search parameter definition from the R4 tables.
public struct SearchParameterDefinition: Sendable {
    public let type: SearchParameterType
    /// Target resource types of a reference parameter; empty for other types.
    public let targets: [String]
    /// The FHIRPath restricted to the type (empty when the parameter has none).
    public let expression: String
    /// `expression` compiled for the type it was defined on.
    public let paths: ElementPaths
}

extension R4Tables {
    /// Search parameters by type, parsed once from the generated text table.
    static let searchParameterIndex: [String: [String: SearchParameterDefinition]] = {
        var index: [String: [String: SearchParameterDefinition]] = [:]
        for line in searchParameterRows.split(separator: "\n") {
            let columns = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard columns.count == 5, let type = SearchParameterType(rawValue: String(columns[2])) else { continue }
            let targets = columns[3].isEmpty ? [] : columns[3].split(separator: ",").map(String.init)
            index[String(columns[0]), default: [:]][String(columns[1])] = SearchParameterDefinition(
                type: type, targets: targets, expression: String(columns[4]), paths: ElementPaths.compile(String(columns[4]), type: String(columns[0])))
        }
        return index
    }()

    /// The definition of search parameter `name` on `type`, including the parameters
    /// every resource has (`_id`, `_lastUpdated`, …).
    public static func searchParameter(_ name: String, on type: String) -> SearchParameterDefinition? {
        searchParameterIndex[type]?[name]
            ?? searchParameterIndex["Resource"]?[name]
            ?? searchParameterIndex["DomainResource"]?[name]
    }

    /// The compartment expressions of each type, compiled once (kept apart from the
    /// generated literal, whose initializer must stay trivial).
    static let compartmentPaths: [String: [ElementPaths]] = patientCompartment.reduce(into: [:]) { table, row in
        table[row.key] = row.value.map { ElementPaths.compile($0.expression, type: row.key) }
    }

    /// The search parameter codes defined on `type` itself (for suggestions).
    public static func searchParameterNames(on type: String) -> [String] {
        searchParameterIndex[type].map { Array($0.keys) } ?? []
    }

    public static func isResourceType(_ name: some StringProtocol) -> Bool {
        resourceTypes.contains(String(name))
    }
}
