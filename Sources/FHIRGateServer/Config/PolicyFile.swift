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
    /// Show a Patient whose `link.other` names the patient in context (merged records).
    public var followPatientLinks = false
    /// Limits applied to every request of the route (all must pass; charged together).
    public var rateLimits: [RateLimitRule] = []
    /// Units each interaction class costs against the limits.
    public var costs = InteractionCosts()
    /// Who may start Bulk Data exports, and how many at once.
    public var bulkExport = BulkExportPolicy()

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

    public static func load(file: String) throws(ConfigErrors) -> PolicyFile {
        guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
            throw ConfigErrors([ConfigDiagnostic(file: file, line: 0, column: 0, message: "cannot read policy file")])
        }
        let doc = YAMLDocument(file: file)
        var policy = PolicyFile(file: file, name: (file as NSString).lastPathComponent,
                                contentHash: Hex.encode(SHA256.hash(data: data).prefix(8)),
                                readableOutsideCompartment: Authorizer.Settings(baseURL: "").readableOutsideCompartment,
                                patientLinkedTypes: ["Device"])
        if let root = doc.root(text: text), let top = doc.mapping(root, at: "(top level)", keys: ["name", "description", "mode", "patient_scopes", "rate_limits", "costs", "bulk_export"]) {
            if let name = top.string("name") { policy.name = name }
            _ = top.string("description")
            if let mode = top.string("mode"), !["enforce", "report-only"].contains(mode) {
                doc.report(top.node("mode"), "'mode' must be enforce or report-only")
            }
            if let p = doc.mapping(top.node("patient_scopes"), at: "patient_scopes", keys: ["readable_outside_compartment", "patient_linked_types", "follow_patient_links"]) {
                policy.followPatientLinks = p.bool("follow_patient_links") ?? false
                if let list = p.stringList("readable_outside_compartment") {
                    policy.readableOutsideCompartment = checkedTypes(list, doc: doc, node: p.node("readable_outside_compartment"), key: "readable_outside_compartment")
                }
                if let list = p.stringList("patient_linked_types") {
                    policy.patientLinkedTypes = checkedTypes(list, doc: doc, node: p.node("patient_linked_types"), key: "patient_linked_types")
                }
            }
            for (i, node) in (top.sequence("rate_limits") ?? []).enumerated() {
                guard let r = doc.mapping(node, at: "rate_limits[\(i)]", keys: ["key", "per_second", "per_minute", "burst"]) else { continue }
                let keyText = r.string("key", required: true, hint: "one of client, user, patient, ip, route")
                let key = keyText.flatMap(RateLimitRule.Key.init(rawValue:))
                if keyText != nil, key == nil {
                    doc.report(r.node("key"), "unknown rate-limit key '\(keyText!)'", hint: "one of client, user, patient, ip, route")
                }
                var rate = r.double("per_second", range: 0.001...1_000_000)
                if let perMinute = r.double("per_minute", range: 0.001...60_000_000) {
                    if rate != nil { doc.report(r.node("per_minute"), "give per_second or per_minute, not both") }
                    rate = perMinute / 60
                }
                if rate == nil && !r.has("per_second") && !r.has("per_minute") { r.missing("per_second", hint: "the sustained rate, e.g. per_second: 20") }
                let burst = r.int("burst", range: 1...10_000_000) ?? max(1, Int(rate ?? 1))
                if let key, let rate { policy.rateLimits.append(RateLimitRule(key: key, perSecond: rate, burst: burst)) }
            }
            if let b = doc.mapping(top.node("bulk_export"), at: "bulk_export",
                                   keys: ["contexts", "clients", "groups", "max_concurrent_jobs_per_client", "job_ttl_hours"]) {
                if let contexts = b.stringList("contexts") {
                    var set = Set<SMARTScope.Context>()
                    for c in contexts {
                        guard let context = SMARTScope.Context(rawValue: c) else {
                            doc.report(b.node("contexts"), "unknown scope context '\(c)' in 'bulk_export.contexts'", hint: "one of system, user, patient")
                            continue
                        }
                        set.insert(context)
                    }
                    policy.bulkExport.settings.contexts = set
                }
                if let clients = b.stringList("clients") { policy.bulkExport.settings.clients = Set(clients) }
                if let groups = b.stringList("groups") { policy.bulkExport.settings.groups = Set(groups) }
                policy.bulkExport.maxConcurrentJobsPerClient = b.int("max_concurrent_jobs_per_client", range: 1...1000) ?? policy.bulkExport.maxConcurrentJobsPerClient
                if let hours = b.double("job_ttl_hours", range: 0.01...720) { policy.bulkExport.jobTTLSeconds = hours * 3600 }
            }
            if let c = doc.mapping(top.node("costs"), at: "costs", keys: ["read", "search", "write", "export", "operation"]) {
                policy.costs.read = c.int("read", range: 0...1_000_000) ?? policy.costs.read
                policy.costs.search = c.int("search", range: 0...1_000_000) ?? policy.costs.search
                policy.costs.write = c.int("write", range: 0...1_000_000) ?? policy.costs.write
                policy.costs.export = c.int("export", range: 0...1_000_000) ?? policy.costs.export
                policy.costs.operation = c.int("operation", range: 0...1_000_000) ?? policy.costs.operation
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
