import Foundation

/// Checks a PATCH body under a `patient/` scope. The current version was already found
/// in the patient's compartment (write pre-check); what remains is that the patch cannot
/// move the resource out of it or into another patient's compartment. So a JSON Patch
/// (RFC 6902) may not add, remove, replace or move the elements that hold compartment
/// references, nor `id`/`resourceType`; `test` and `copy` only read them and pass.
/// FHIRPath Patch (a `Parameters` body) is refused: its paths are FHIRPath expressions
/// the gateway cannot bound with certainty.
public enum PatchDocumentCheck {
    /// nil when the patch may be forwarded.
    public static func check(_ body: [UInt8], type: String) -> GatewayError? {
        guard let parsed = JSONTree(body)?.root else { return .malformedRequest(reason: "patch_not_json") }
        if parsed.isObject {
            return parsed["resourceType"]?.isString("Parameters") == true
                ? .insufficientScope(reason: "fhirpath_patch_unverifiable")
                : .malformedRequest(reason: "patch_not_json_patch")
        }
        guard parsed.isArray else { return .malformedRequest(reason: "patch_not_json_patch") }
        let guarded = protectedElements(of: type)
        for op in parsed.elements {
            guard let name = op["op"]?.string, let path = op["path"]?.string else { return .malformedRequest(reason: "patch_operation_shape") }
            switch name {
            case "test", "copy":
                // `copy` writes to `path` only.
                if name == "copy", touches(path, guarded) { return .insufficientScope(reason: "patch_changes_compartment_reference") }
            case "add", "remove", "replace":
                if touches(path, guarded) { return .insufficientScope(reason: "patch_changes_compartment_reference") }
            case "move":
                guard let from = op["from"]?.string else { return .malformedRequest(reason: "patch_operation_shape") }
                if touches(path, guarded) || touches(from, guarded) {
                    return .insufficientScope(reason: "patch_changes_compartment_reference")
                }
            default:
                return .malformedRequest(reason: "patch_unknown_operation")
            }
        }
        return nil
    }

    /// Whether a JSON Pointer addresses the whole resource or one of `elements`.
    static func touches(_ pointer: String, _ elements: Set<String>) -> Bool {
        guard pointer.hasPrefix("/") else { return true } // "" is the whole document; anything else is malformed
        let first = pointer.dropFirst().prefix { $0 != "/" }
        let name = first.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        return elements.contains(name) || elements.contains(where: { name.hasPrefix($0) && $0.hasSuffix("[x]") })
    }

    /// The top-level elements holding a type's compartment references (from the R4
    /// compartment expressions and the type's `patient` search parameter).
    public static func protectedElements(of type: String) -> Set<String> {
        table[type] ?? compute(type)
    }

    static let table: [String: Set<String>] = Dictionary(uniqueKeysWithValues: R4Tables.patientCompartment.keys.map { ($0, compute($0)) })

    /// The first element of every compiled compartment path (and of the `patient` parameter).
    static func compute(_ type: String) -> Set<String> {
        var paths = R4Tables.compartmentPaths[type] ?? []
        if let patient = R4Tables.searchParameter("patient", on: type), patient.type == .reference { paths.append(patient.paths) }
        var names: Set<String> = ["resourceType", "id"]
        for compiled in paths {
            for path in compiled.paths {
                if let first = path.first { names.insert(String(decoding: first, as: UTF8.self)) }
            }
        }
        return names
    }
}
