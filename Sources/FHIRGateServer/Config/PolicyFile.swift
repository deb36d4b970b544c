import Crypto
import FHIRGateCore
import Foundation
import Yams

/// A route's policy file, validated and compiled (language: `Policies/README.md`).
/// Policies can only narrow what scopes allow. Unknown keys, wrong types, unknown resource
/// types, interactions, operations and search parameters, duplicate rule ids and rules
/// that can never take effect are `file:line:column` errors, all reported at once; a file
/// with any of them is refused as a whole, never half-applied.
public struct PolicyFile: Sendable {
    public var file: String
    public var name: String
    /// SHA-256 of the file's bytes (first 16 hex digits), carried in audit records.
    public var contentHash: String
    /// The compiled policy the engine evaluates.
    public var policy: Policy
    public var readableOutsideCompartment: Set<String>
    public var patientLinkedTypes: Set<String>
    /// Show a Patient whose `link.other` names the patient in context (merged records).
    public var followPatientLinks = false
    /// Limits applied to every request of the route (all must pass; charged together).
    public var rateLimits: [RateLimitRule] = []
    /// Units each interaction class costs against the limits.
    public var costs = InteractionCosts()
    /// Who may start Bulk Data exports, and how many at once.
    public var bulkExport = BulkExportPolicy()
    /// The policy's test file (`<name>.tests.yaml` next to it), when there is one.
    public var testsFile: String?

    public struct BulkExportPolicy: Sendable, Equatable {
        public var settings = Authorizer.BulkExportSettings()
        public var maxConcurrentJobsPerClient = 2
        public var jobTTLSeconds: Double = 24 * 3600
    }

    public struct RateLimitRule: Sendable, Equatable {
        public enum Key: String, Sendable, CaseIterable {
            case client, user, patient, ip, route
        }

        public var key: Key
        public var perSecond: Double
        public var burst: Int
    }

    public struct InteractionCosts: Sendable, Equatable {
        public var read = 1
        public var search = 5
        public var write = 10
        public var export = 100
        public var operation = 5
    }

    static let topLevelKeys: Set<String> = [
        "name", "description", "mode", "patient_scopes", "rate_limits", "costs", "bulk_export", "exposure", "search", "clients",
        "data_rules", "rules", "default_effect",
    ]

    public static func load(file: String) throws(ConfigErrors) -> PolicyFile {
        let text = try ConfigDiagnostic.readText(file, kind: "policy file")
        var policy = try parse(text: text, file: file)
        let tests = String(file.dropLast((file as NSString).pathExtension.count + 1)) + ".tests.yaml"
        if FileManager.default.fileExists(atPath: tests) { policy.testsFile = tests }
        return policy
    }

    /// The policy in `text`, as if read from `file` (which names it in diagnostics).
    public static func parse(text: String, file: String) throws(ConfigErrors) -> PolicyFile {
        let data = Data(text.utf8)
        let doc = YAMLDocument(file: file)
        let baseName = (file as NSString).lastPathComponent
        var policy = PolicyFile(file: file, name: baseName, contentHash: Hex.encode(SHA256.hash(data: data).prefix(8)),
                                policy: Policy(name: baseName),
                                readableOutsideCompartment: Authorizer.Settings(baseURL: "").readableOutsideCompartment,
                                patientLinkedTypes: ["Device"])
        if let root = doc.root(text: text), let top = doc.mapping(root, at: "(top level)", keys: topLevelKeys) {
            if let name = top.string("name") {
                policy.name = name
                policy.policy.name = name
            }
            _ = top.string("description")
            if let mode = policy.readMode(top, "mode", doc: doc) { policy.policy.mode = mode }
            policy.readPatientScopes(top, doc: doc)
            policy.readExposure(top, doc: doc)
            policy.readSearch(top, doc: doc)
            policy.readClients(top, doc: doc)
            policy.readDataRules(top, doc: doc)
            policy.readRules(top, doc: doc)
            policy.readRateLimits(top, doc: doc)
            policy.readCosts(top, doc: doc)
            policy.readBulkExport(top, doc: doc)
        } else if doc.diagnostics.isEmpty {
            doc.report(line: 1, column: 1, "the policy file is empty", hint: "start from Policies/g10-patient-facing.yaml")
        }
        guard doc.diagnostics.isEmpty else { throw ConfigErrors(doc.diagnostics) }
        return policy
    }

    func readMode(_ r: MappingReader, _ key: String, doc: YAMLDocument) -> Policy.Mode? {
        guard let text = r.string(key) else { return nil }
        guard let mode = Policy.Mode(rawValue: text) else {
            doc.report(r.node(key), "'\(r.path).\(key)' must be enforce or report-only", hint: "report-only rules change no response; they mark the audit record")
            return nil
        }
        return mode
    }

    /// Resource types from a list, each unknown one reported where it is written.
    func types(_ items: [(value: String, node: Node)], doc: YAMLDocument, path: String, allowWildcard: Bool = false) -> Set<String> {
        var out = Set<String>()
        for (t, node) in items {
            if allowWildcard && t == "*" { out.insert(t); continue }
            guard R4Tables.isResourceType(t) else {
                doc.report(node, "unknown resource type '\(t)' in '\(path)'",
                           hint: YAMLDocument.suggestion(t, in: R4Tables.resourceTypes) ?? "resource types are case-sensitive R4 names, e.g. Observation")
                continue
            }
            out.insert(t)
        }
        return out
    }

    func contexts(_ items: [(value: String, node: Node)], doc: YAMLDocument, path: String) -> Set<SMARTScope.Context> {
        var out = Set<SMARTScope.Context>()
        for (c, node) in items {
            guard let context = SMARTScope.Context(rawValue: c) else {
                doc.report(node, "unknown scope context '\(c)' in '\(path)'", hint: "one of patient, user, system")
                continue
            }
            out.insert(context)
        }
        return out
    }
}
