import Foundation

/// `_elements` asks the server for a subset of each resource. Under a response check
/// the subset must still hold what the guard reads (the compartment references, the
/// granted categories, the security labels), or every resource would be withheld for
/// want of them: the gateway adds those elements to the client's list. The client then
/// gets a little more than it asked for, which FHIR allows (`_elements` is a hint).
extension ResponseCheck {
    /// The top-level elements of `type` the guard reads under this check.
    public func elementsRead(on type: String) -> [String] {
        var roots: [[UInt8]] = []
        func add(_ paths: ElementPaths) {
            for path in paths.paths { if let first = path.first, !roots.contains(first) { roots.append(first) } }
        }
        if patient != nil {
            if type == "Patient" {
                if followPatientLinks { add(ResourceInspector.patientLinkOther) }
            } else {
                for paths in R4Tables.compartmentPaths[type] ?? [] { add(paths) }
                if let beyond = ResourceInspector.patientLinksBeyondCompartment[type] { add(beyond) }
            }
        }
        for scope in granular[type] ?? [] {
            for constraint in scope.constraints {
                if let definition = R4Tables.searchParameter(constraint.parameter, on: type) { add(definition.paths) }
            }
        }
        var names = roots.map { String(decoding: $0, as: UTF8.self) }
        if !deniedSecurityLabels.isEmpty, !names.contains("meta") { names.append("meta") }
        return names
    }

    /// The `_elements` value to send upstream for `value` sent by the client.
    public func elementsValue(_ value: String, type: String) -> String {
        let asked = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let missing = elementsRead(on: type).filter { !asked.contains($0) }
        return missing.isEmpty ? value : ([value] + missing).joined(separator: ",")
    }
}
