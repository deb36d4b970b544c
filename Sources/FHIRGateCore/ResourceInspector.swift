import Foundation

/// Reads the parts of a parsed FHIR JSON resource that authorization decisions need:
/// references along simple FHIRPath expressions, and token values for granular scopes.
///
/// Only the FHIRPath shapes that occur in the R4 compartment and US Core token
/// parameters are understood (`Type.a.b`, `.where(resolve() is Patient)`, ` | ` unions).
/// An expression it cannot read yields nothing, so membership fails closed.
public enum ResourceInspector {
    public typealias JSONObject = [String: Any]

    /// Values at `path` (element names below the resource), flattening arrays.
    static func values(_ object: Any, path: ArraySlice<Substring>) -> [Any] {
        if let array = object as? [Any] { return array.flatMap { values($0, path: path) } }
        guard let name = path.first else { return [object] }
        guard let dict = object as? JSONObject else { return [] }
        // Choice elements like `value[x]` appear as `valueReference`, `valueCodeableConcept`, …
        if let child = dict[String(name)] { return values(child, path: path.dropFirst()) }
        let prefix = String(name)
        return dict.filter { $0.key.hasPrefix(prefix) && $0.key.count > prefix.count && $0.key.dropFirst(prefix.count).first?.isUppercase == true }
            .flatMap { values($0.value, path: path.dropFirst()) }
    }

    /// The element values an expression selects on `resource` of `type`.
    static func evaluate(_ expression: String, on resource: JSONObject, type: String) -> [Any]? {
        var result: [Any] = []
        for part in expression.components(separatedBy: " | ") {
            var p = part.trimmingCharacters(in: .whitespaces)
            if p.hasSuffix(".where(resolve() is Patient)") { p = String(p.dropLast(".where(resolve() is Patient)".count)) }
            guard p.hasPrefix(type + "."), !p.contains("("), !p.contains(" ") else {
                if p.hasPrefix(type + ".") { return nil } // a shape we do not understand
                continue // another type's branch of a shared expression
            }
            let path = p.dropFirst(type.count + 1).split(separator: ".")
            result += values(resource, path: path[...])
        }
        return result
    }

    /// Whether any Reference selected by `expression` points at `Patient/{patient}`.
    static func references(_ expression: String, in resource: JSONObject, type: String, patient: String, base: String) -> Bool {
        guard let found = evaluate(expression, on: resource, type: type) else { return false }
        for value in found {
            guard let ref = (value as? JSONObject)?["reference"] as? String,
                  let parsed = ReferenceValue.parse(ref, base: base) else { continue }
            if parsed.type == "Patient" && parsed.id == patient { return true }
        }
        return false
    }

    /// Patient compartment membership of one resource (R4 CompartmentDefinition/patient).
    public static func isInCompartment(_ resource: JSONObject, patient: String, base: String) -> Bool {
        guard let type = resource["resourceType"] as? String else { return false }
        if type == "Patient" { return resource["id"] as? String == patient }
        guard let parameters = R4Tables.patientCompartment[type] else { return false }
        return parameters.contains { references($0.expression, in: resource, type: type, patient: patient, base: base) }
    }

    /// Whether a resource links to the patient although its type is outside the R4
    /// compartment (Device via `Device.patient`).
    public static func linksToPatient(_ resource: JSONObject, patient: String, base: String) -> Bool {
        guard let type = resource["resourceType"] as? String,
              let definition = R4Tables.searchParameter("patient", on: type), definition.type == .reference else { return false }
        return references(definition.expression, in: resource, type: type, patient: patient, base: base)
    }

    /// Whether a resource matches every constraint of a granular scope.
    public static func matches(_ resource: JSONObject, scope: SMARTScope) -> Bool {
        guard let type = resource["resourceType"] as? String, scope.covers(type: type) else { return false }
        return scope.constraints.allSatisfy { constraint in
            guard let definition = R4Tables.searchParameter(constraint.parameter, on: type), definition.type == .token,
                  let found = evaluate(definition.expression, on: resource, type: type) else { return false }
            return found.contains { tokenMatches($0, constraint.value) }
        }
    }

    /// FHIR token matching: `system|code`, `code`, `|code` (no system), `system|`.
    static func tokenMatches(_ value: Any, _ wanted: String) -> Bool {
        let system: String?
        let code: String?
        if let bar = wanted.firstIndex(of: "|") {
            system = String(wanted[..<bar])
            let c = String(wanted[wanted.index(after: bar)...])
            code = c.isEmpty ? nil : c
        } else {
            system = nil
            code = wanted
        }
        func matchCoding(_ s: String?, _ c: String?) -> Bool {
            if let system { guard (s ?? "") == system else { return false } }
            if let code { guard let c, c.caseInsensitiveCompare(code) == .orderedSame else { return false } }
            return true
        }
        if let s = value as? String { return system == nil && code != nil && matchCoding(nil, s) }
        guard let dict = value as? JSONObject else { return false }
        if let codings = dict["coding"] as? [Any] {
            return codings.contains { c in
                guard let c = c as? JSONObject else { return false }
                return matchCoding(c["system"] as? String, c["code"] as? String)
            }
        }
        if dict["code"] != nil { return matchCoding(dict["system"] as? String, dict["code"] as? String) }
        if dict["value"] != nil { return matchCoding(dict["system"] as? String, dict["value"] as? String) }
        return false
    }
}
