import Crypto
import FHIRGateCore
import Foundation
import Yams

/// A route's policy file, validated. Policies can only narrow what scopes allow.
///
/// This is the first slice of the policy language (see `Policies/README.md`): the
/// patient-scope settings. Unknown keys are errors, so a file written for a later
/// language version is refused rather than half-applied.
public struct PolicyFile: Sendable {
    public var file: String
    public var name: String
    /// SHA-256 of the file's bytes (first 16 hex digits), carried in audit records.
    public var contentHash: String
    public var readableOutsideCompartment: Set<String>
    public var patientLinkedTypes: Set<String>

    public static func load(file: String) throws(ConfigErrors) -> PolicyFile {
        guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
            throw ConfigErrors([ConfigDiagnostic(file: file, line: 0, column: 0, message: "cannot read policy file")])
        }
        let doc = YAMLDocument(file: file)
        var policy = PolicyFile(file: file, name: (file as NSString).lastPathComponent,
                                contentHash: SHA256.hash(data: data).prefix(8).map { String(format: "%02x", $0) }.joined(),
                                readableOutsideCompartment: Authorizer.Settings(baseURL: "").readableOutsideCompartment,
                                patientLinkedTypes: ["Device"])
        if let root = doc.root(text: text), let top = doc.mapping(root, at: "(top level)", keys: ["name", "description", "mode", "patient_scopes"]) {
            if let name = top.string("name") { policy.name = name }
            _ = top.string("description")
            if let mode = top.string("mode"), !["enforce", "report-only"].contains(mode) {
                doc.report(top.node("mode"), "'mode' must be enforce or report-only")
            }
            if let p = doc.mapping(top.node("patient_scopes"), at: "patient_scopes", keys: ["readable_outside_compartment", "patient_linked_types"]) {
                if let list = p.stringList("readable_outside_compartment") {
                    policy.readableOutsideCompartment = checkedTypes(list, doc: doc, node: p.node("readable_outside_compartment"), key: "readable_outside_compartment")
                }
                if let list = p.stringList("patient_linked_types") {
                    policy.patientLinkedTypes = checkedTypes(list, doc: doc, node: p.node("patient_linked_types"), key: "patient_linked_types")
                }
            }
        } else if doc.diagnostics.isEmpty {
            doc.report(line: 1, column: 1, "the policy file is empty", hint: "start from Policies/g10-patient-facing.yaml")
        }
        guard doc.diagnostics.isEmpty else { throw ConfigErrors(doc.diagnostics) }
        return policy
    }

    static func checkedTypes(_ list: [String], doc: YAMLDocument, node: Yams.Node?, key: String) -> Set<String> {
        for t in list where !R4Tables.isResourceType(t) {
            doc.report(node, "unknown resource type '\(t)' in 'patient_scopes.\(key)'", hint: "resource types are case-sensitive R4 names, e.g. Practitioner")
        }
        return Set(list.filter { R4Tables.isResourceType($0) })
    }
}
