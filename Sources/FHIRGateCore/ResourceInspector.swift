/// Reads the parts of a FHIR JSON resource that authorization decisions need:
/// references along the compiled element paths of the R4 tables, and token values for
/// granular scopes. Works on `JSONTree` values (no Foundation JSON on the hot path).
/// An expression it cannot read selects nothing, so membership fails closed.
public enum ResourceInspector {
    /// A JSON object from bytes; nil for anything else (invalid JSON, duplicate keys, …).
    public static func parse(_ body: [UInt8]) -> JSONValue? {
        guard let root = JSONTree(body)?.root, root.isObject else { return nil }
        return root
    }

    /// Node indices of the values at `path` below node `index`, flattening arrays; a name
    /// also matches the choice-type forms (`value` → `valueReference`,
    /// `valueCodeableConcept`, …). Works on indices: the guard runs this for every entry
    /// of a Bundle, and a `JSONValue` per member visited was most of its cost.
    static func collect(_ tree: JSONTree, _ index: Int, path: ArraySlice<[UInt8]>, into out: inout [Int]) {
        let nodes = tree.nodes
        let node = nodes[index]
        if node.kind == .array {
            var position = index + 1
            while position < Int(node.after) {
                collect(tree, position, path: path, into: &out)
                position = Int(nodes[position].after)
            }
            return
        }
        guard let name = path.first else {
            out.append(index)
            return
        }
        guard node.kind == .object else { return }
        let object = JSONValue(tree: tree, index: index)
        if let exact = name.withUnsafeBufferPointer({ object.memberIndex($0) }) {
            collect(tree, exact, path: path.dropFirst(), into: &out)
            return
        }
        var position = index + 1
        while position < Int(node.after) {
            let value = Int(nodes[position].after)
            if JSONValue(tree: tree, index: position).isChoiceForm(of: name) { collect(tree, value, path: path.dropFirst(), into: &out) }
            position = Int(nodes[value].after)
        }
    }

    /// The element values compiled `paths` select on `resource`; nil when not understood.
    static func evaluate(_ paths: ElementPaths, on resource: JSONValue) -> [JSONValue]? {
        evaluateIndices(paths, on: resource).map { $0.map { JSONValue(tree: resource.tree, index: $0) } }
    }

    static func evaluateIndices(_ paths: ElementPaths, on resource: JSONValue) -> [Int]? {
        guard paths.understood else { return nil }
        var out: [Int] = []
        for path in paths.paths { collect(resource.tree, resource.index, path: path[...], into: &out) }
        return out
    }

    private static let referenceKey = Array("reference".utf8)

    /// Whether any Reference selected by `paths` points at `Patient/{patient}`.
    static func references(_ paths: ElementPaths, in resource: JSONValue, patient: String, bases: ReferenceBases) -> Bool {
        guard let found = evaluateIndices(paths, on: resource) else { return false }
        // Only a valid id can be matched byte-wise: `Patient/a/_history/1` must not match
        // a "patient" of `a/_history/1` (the parser reads its id as `a`).
        let byteWise = FHIRId.isValid(patient)
        for index in found {
            guard let at = referenceKey.withUnsafeBufferPointer({ JSONValue(tree: resource.tree, index: index).memberIndex($0) }) else { continue }
            let reference = JSONValue(tree: resource.tree, index: at)
            // The usual form, `Patient/{id}` exactly, is recognised in place; every other
            // form (absolute, versioned, escaped, another patient) is parsed.
            if byteWise, reference.isString(prefix: "Patient/", rest: patient) { return true }
            guard let ref = reference.string, let parsed = ReferenceValue.parse(ref, bases: bases) else { continue }
            if parsed.type == "Patient" && parsed.id == patient { return true }
        }
        return false
    }

    static let patientLinkOther = ElementPaths.compile("Patient.link.other", type: "Patient")

    /// Patient compartment membership of one resource (R4 CompartmentDefinition/patient).
    /// A Patient is in its own compartment only; `Patient.link` counts when
    /// `followPatientLinks` (a policy choice).
    public static func isInCompartment(_ resource: JSONValue, patient: String, base: String, followPatientLinks: Bool = false) -> Bool {
        guard let type = resource["resourceType"]?.string else { return false }
        return isInCompartment(resource, type: type, patient: patient, bases: ReferenceBases(base), followPatientLinks: followPatientLinks)
    }

    /// The same, for a caller that has read the resource's type already (the guard).
    static func isInCompartment(_ resource: JSONValue, type: String, patient: String, bases: ReferenceBases, followPatientLinks: Bool) -> Bool {
        if type == "Patient" {
            if resource["id"]?.string == patient { return true }
            return followPatientLinks && references(patientLinkOther, in: resource, patient: patient, bases: bases)
        }
        guard let paths = R4Tables.compartmentPaths[type] else { return false }
        return paths.contains { references($0, in: resource, patient: patient, bases: bases) }
    }

    /// Whether a resource links to the patient although its type is outside the R4
    /// compartment (Device via `Device.patient`).
    public static func linksToPatient(_ resource: JSONValue, patient: String, base: String) -> Bool {
        guard let type = resource["resourceType"]?.string else { return false }
        return linksToPatient(resource, type: type, patient: patient, bases: ReferenceBases(base))
    }

    static func linksToPatient(_ resource: JSONValue, type: String, patient: String, bases: ReferenceBases) -> Bool {
        guard let paths = patientLinksBeyondCompartment[type] else { return false }
        return references(paths, in: resource, patient: patient, bases: bases)
    }

    /// Per type, the paths of its `patient` reference parameter that its compartment
    /// paths do not already cover. For most types that is nothing (Observation.patient is
    /// Observation.subject), and the guard then does not read every entry of another
    /// patient twice; only types with something left (Device) are listed.
    static let patientLinksBeyondCompartment: [String: ElementPaths] = {
        var table: [String: ElementPaths] = [:]
        for type in R4Tables.resourceTypes {
            guard let definition = R4Tables.searchParameter("patient", on: type), definition.type == .reference,
                  definition.paths.understood else { continue } // paths not understood select nothing
            // A Patient is a member by its id, not by its compartment paths: nothing is covered.
            let covered = type == "Patient" ? [] : Set((R4Tables.compartmentPaths[type] ?? []).filter(\.understood).flatMap(\.paths))
            let rest = definition.paths.paths.filter { !covered.contains($0) }
            if !rest.isEmpty { table[type] = ElementPaths(paths: rest, understood: true) }
        }
        return table
    }()

    /// Whether a resource matches every constraint of a granular scope.
    public static func matches(_ resource: JSONValue, scope: SMARTScope) -> Bool {
        guard let type = resource["resourceType"]?.string, scope.covers(type: type) else { return false }
        return scope.constraints.allSatisfy { constraint in
            guard let definition = R4Tables.searchParameter(constraint.parameter, on: type), definition.type == .token,
                  let found = evaluate(definition.paths, on: resource) else { return false }
            return found.contains { tokenMatches($0, constraint.value) }
        }
    }

    /// FHIR token matching: `system|code`, `code`, `|code` (no system), `system|`.
    static func tokenMatches(_ value: JSONValue, _ wanted: String) -> Bool {
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
            if let code { guard let c, c.lowercased() == code.lowercased() else { return false } }
            return true
        }
        if let s = value.string { return system == nil && code != nil && matchCoding(nil, s) }
        guard value.isObject else { return false }
        if let codings = value["coding"], codings.isArray {
            return codings.elements.contains { c in c.isObject && matchCoding(c["system"]?.string, c["code"]?.string) }
        }
        if value["code"] != nil { return matchCoding(value["system"]?.string, value["code"]?.string) }
        if value["value"] != nil { return matchCoding(value["system"]?.string, value["value"]?.string) }
        return false
    }
}
