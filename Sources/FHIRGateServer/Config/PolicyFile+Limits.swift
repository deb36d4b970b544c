import FHIRGateCore
import Yams

/// The policy sections about `patient/` scopes, rate limits, costs and Bulk Data.
extension PolicyFile {
    mutating func readPatientScopes(_ top: MappingReader, doc: YAMLDocument) {
        guard let p = doc.mapping(top.node("patient_scopes"), at: "patient_scopes",
                                  keys: ["readable_outside_compartment", "patient_linked_types", "follow_patient_links", "compartment", "unverified_types"])
        else { return }
        if let items = p.stringItems("readable_outside_compartment") {
            readableOutsideCompartment = types(items, doc: doc, path: "patient_scopes.readable_outside_compartment")
        }
        if let items = p.stringItems("patient_linked_types") {
            patientLinkedTypes = types(items, doc: doc, path: "patient_scopes.patient_linked_types")
        }
        followPatientLinks = p.bool("follow_patient_links") ?? false
        if let mode = p.string("compartment") {
            if let m = Policy.PatientScopes.CompartmentMode(rawValue: mode) {
                policy.patientScopes.compartment = m
            } else {
                doc.report(p.node("compartment"), "'patient_scopes.compartment' must be narrow or require",
                           hint: "narrow adds the patient parameter; require refuses searches without it")
            }
        }
        if let items = p.stringItems("unverified_types") {
            policy.patientScopes.unverifiedTypes = types(items, doc: doc, path: "patient_scopes.unverified_types")
        }
    }

    mutating func readRateLimits(_ top: MappingReader, doc: YAMLDocument) {
        for (i, node) in (top.sequence("rate_limits") ?? []).enumerated() {
            guard let r = doc.mapping(node, at: "rate_limits[\(i)]", keys: ["key", "per_second", "per_minute", "burst"]) else { continue }
            let keyText = r.string("key", required: true, hint: "one of client, user, patient, ip, route")
            let key = keyText.flatMap(RateLimitRule.Key.init(rawValue:))
            if let keyText, key == nil {
                doc.report(r.node("key"), "unknown rate-limit key '\(keyText)'", hint: "one of client, user, patient, ip, route")
            }
            var rate = r.double("per_second", range: 0.001...1_000_000)
            if let perMinute = r.double("per_minute", range: 0.001...60_000_000) {
                if rate != nil { doc.report(r.node("per_minute"), "give per_second or per_minute, not both") }
                rate = perMinute / 60
            }
            if rate == nil && !r.has("per_second") && !r.has("per_minute") { r.missing("per_second", hint: "the sustained rate, e.g. per_second: 20") }
            let burst = r.int("burst", range: 1...10_000_000) ?? max(1, Int(rate ?? 1))
            if let key, let rate { rateLimits.append(RateLimitRule(key: key, perSecond: rate, burst: burst)) }
        }
    }

    mutating func readCosts(_ top: MappingReader, doc: YAMLDocument) {
        guard let c = doc.mapping(top.node("costs"), at: "costs", keys: ["read", "search", "write", "export", "operation"]) else { return }
        costs.read = c.int("read", range: 0...1_000_000) ?? costs.read
        costs.search = c.int("search", range: 0...1_000_000) ?? costs.search
        costs.write = c.int("write", range: 0...1_000_000) ?? costs.write
        costs.export = c.int("export", range: 0...1_000_000) ?? costs.export
        costs.operation = c.int("operation", range: 0...1_000_000) ?? costs.operation
    }

    mutating func readBulkExport(_ top: MappingReader, doc: YAMLDocument) {
        guard let b = doc.mapping(top.node("bulk_export"), at: "bulk_export",
                                  keys: ["contexts", "clients", "groups", "max_concurrent_jobs_per_client", "job_ttl_hours"]) else { return }
        if let items = b.stringItems("contexts") {
            bulkExport.settings.contexts = contexts(items, doc: doc, path: "bulk_export.contexts")
            // An export cannot be held to one patient (no `patient` parameter by GET, and
            // Patient/$export means every patient): patient/ tokens may not start one.
            for (c, node) in items where c == SMARTScope.Context.patient.rawValue {
                doc.report(node, "'bulk_export.contexts' cannot include patient: an export cannot be held to the patient in context",
                           hint: "system (backend services) or user")
            }
        }
        if let clients = b.stringList("clients") { bulkExport.settings.clients = Set(clients) }
        if let groups = b.stringList("groups") { bulkExport.settings.groups = Set(groups) }
        bulkExport.maxConcurrentJobsPerClient = b.int("max_concurrent_jobs_per_client", range: 1...1000) ?? bulkExport.maxConcurrentJobsPerClient
        if let hours = b.double("job_ttl_hours", range: 0.01...720) { bulkExport.jobTTLSeconds = hours * 3600 }
    }
}
