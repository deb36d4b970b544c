import FHIRGateCore
import Yams

/// The policy sections about access: exposure, search surface, clients, data rules and
/// ordered rules, checked against the R4 and US Core tables.
extension PolicyFile {
    static let typeCodes: Set<String> = ["read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create", "search-type"]
    static let systemCodes: Set<String> = ["search-system", "history-system", "batch", "transaction"]
    static let defaultCommonParameters: Set<String> = ["_id", "_count", "_lastUpdated", "_format", "_pretty"]
    static let exposurePresets = ["us-core-3.1.1", "us-core-3.1.1-read"]

    /// Codes of one exposure entry, each checked where it is written.
    func codes(_ items: [(value: String, node: Node)], allowed: Set<String>, doc: YAMLDocument, path: String) -> Set<String> {
        var out = Set<String>()
        for (code, node) in items {
            if code.hasPrefix("$") {
                guard PolicyCode.isKnown(code) else {
                    doc.report(node, "unknown operation '\(code)' in '\(path)'",
                               hint: YAMLDocument.suggestion(String(code.dropFirst()), in: PolicyCode.operations).map { "\($0) (with $)" }
                                   ?? "operations are written with $, e.g. $everything")
                    continue
                }
                out.insert(code)
                continue
            }
            guard allowed.contains(code) else {
                let where_ = Self.systemCodes.contains(code) ? "it is a system-level interaction: list it under 'exposure.system'"
                    : Self.typeCodes.contains(code) ? "it is a resource-level interaction: list it under 'exposure.resources'"
                    : YAMLDocument.suggestion(code, in: allowed) ?? "one of \(allowed.sorted().joined(separator: ", "))"
                doc.report(node, "unknown or misplaced interaction '\(code)' in '\(path)'", hint: where_)
                continue
            }
            out.insert(PolicyCode.normalized(code))
        }
        return out
    }

    mutating func readExposure(_ top: MappingReader, doc: YAMLDocument) {
        guard let e = doc.mapping(top.node("exposure"), at: "exposure", keys: ["preset", "resources", "system"]) else { return }
        var exposure = Policy.Exposure()
        if let preset = e.string("preset") {
            switch preset {
            case "us-core-3.1.1", "us-core-3.1.1-read":
                let reads: Set<String> = ["read", "vread", "search-type", "history-instance"]
                for (type, support) in USCore311.types {
                    var set = Set(support.interactions)
                    if preset.hasSuffix("-read") { set.formIntersection(reads) }
                    set.formUnion(support.operations.map { "$" + $0 })
                    if !set.isEmpty { exposure.types[type] = set }
                }
            default:
                doc.report(e.node("preset"), "unknown exposure preset '\(preset)'", hint: "one of \(Self.exposurePresets.joined(separator: ", "))")
            }
        }
        for (type, key, value) in doc.entries(e.node("resources"), at: "exposure.resources") ?? [] {
            guard type == "*" || R4Tables.isResourceType(type) else {
                doc.report(key, "unknown resource type '\(type)' in 'exposure.resources'",
                           hint: YAMLDocument.suggestion(type, in: R4Tables.resourceTypes) ?? "resource types are case-sensitive R4 names")
                continue
            }
            guard let items = doc.stringItems(value, at: "exposure.resources.\(type)") else { continue }
            let set = codes(items, allowed: Self.typeCodes, doc: doc, path: "exposure.resources.\(type)")
            if type == "*" { exposure.anyType.formUnion(set) } else { exposure.types[type, default: []].formUnion(set) }
        }
        if let items = e.stringItems("system") {
            exposure.system = codes(items, allowed: Self.systemCodes, doc: doc, path: "exposure.system")
        }
        policy.exposure = exposure
    }

    mutating func readSearch(_ top: MappingReader, doc: YAMLDocument) {
        guard let s = doc.mapping(top.node("search"), at: "search",
                                  keys: ["preset", "common_parameters", "max_count", "chains", "has", "iterate", "modifiers", "types"]) else { return }
        var surface = Policy.SearchSurface()
        surface.common = Self.defaultCommonParameters
        if let preset = s.string("preset") {
            if preset == "us-core-3.1.1" {
                for (type, support) in USCore311.types {
                    surface.parameters[type, default: []].formUnion(support.searchParameters)
                    surface.includes[type, default: []].formUnion(support.includes)
                    surface.revincludes[type, default: []].formUnion(support.revincludes)
                }
            } else {
                doc.report(s.node("preset"), "unknown search preset '\(preset)'", hint: "us-core-3.1.1")
            }
        }
        if let items = s.stringItems("common_parameters") {
            surface.common = []
            for (p, node) in items {
                guard R4Tables.searchParameter(p, on: "Resource") != nil || ["_count", "_format", "_pretty", "_sort", "_summary", "_total", "_elements"].contains(p) else {
                    doc.report(node, "'\(p)' in 'search.common_parameters' is not a parameter of every resource",
                               hint: "per-type parameters go under search.types.<Type>.parameters")
                    continue
                }
                surface.common.insert(p)
            }
        }
        surface.maxCount = s.int("max_count", range: 1...10_000)
        surface.chains = s.bool("chains") ?? false
        surface.has = s.bool("has") ?? false
        surface.iterate = s.bool("iterate") ?? false
        if let modifiers = s.stringList("modifiers") { surface.modifiers = Set(modifiers) }
        for (type, key, value) in doc.entries(s.node("types"), at: "search.types") ?? [] {
            let path = "search.types.\(type)"
            guard R4Tables.isResourceType(type) else {
                doc.report(key, "unknown resource type '\(type)' in 'search.types'",
                           hint: YAMLDocument.suggestion(type, in: R4Tables.resourceTypes) ?? "resource types are case-sensitive R4 names")
                continue
            }
            guard let t = doc.mapping(value, at: path, keys: ["parameters", "include", "revinclude"]) else { continue }
            for (p, node) in t.stringItems("parameters") ?? [] {
                guard R4Tables.searchParameter(p, on: type) != nil else {
                    let known = R4Tables.searchParameterNames(on: type)
                    doc.report(node, "'\(p)' is not an R4 search parameter of \(type)",
                               hint: YAMLDocument.suggestion(p, in: known) ?? "see the R4 search parameters of \(type)")
                    continue
                }
                surface.parameters[type, default: []].insert(p)
            }
            for (v, node) in t.stringItems("include") ?? [] where checkInclude(v, searched: type, reverse: false, node: node, doc: doc) {
                surface.includes[type, default: []].insert(v)
            }
            for (v, node) in t.stringItems("revinclude") ?? [] where checkInclude(v, searched: type, reverse: true, node: node, doc: doc) {
                surface.revincludes[type, default: []].insert(v)
            }
        }
        policy.search = surface
    }

    /// `Type:param[:target]`, a reference parameter; an `_include` starts at the searched type.
    func checkInclude(_ value: String, searched: String, reverse: Bool, node: Node, doc: YAMLDocument) -> Bool {
        let parts = value.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 || parts.count == 3, R4Tables.isResourceType(parts[0]),
              let definition = R4Tables.searchParameter(parts[1], on: parts[0]), definition.type == .reference,
              parts.count == 2 || definition.targets.contains(parts[2]) else {
            doc.report(node, "'\(value)' is not a valid \(reverse ? "_revinclude" : "_include") value",
                       hint: "Type:reference-parameter[:TargetType], e.g. \(reverse ? "Provenance:target" : "MedicationRequest:medication")")
            return false
        }
        if !reverse && parts[0] != searched {
            doc.report(node, "_include '\(value)' must start at the searched type \(searched)", hint: "\(searched):<reference parameter>")
            return false
        }
        return true
    }

    mutating func readClients(_ top: MappingReader, doc: YAMLDocument) {
        guard let c = doc.mapping(top.node("clients"), at: "clients", keys: ["contexts", "allow", "deny", "issuers"]) else { return }
        var rules = Policy.ClientRules()
        if let items = c.stringItems("contexts") { rules.contexts = contexts(items, doc: doc, path: "clients.contexts") }
        if let allow = c.stringList("allow") { rules.allow = Set(allow) }
        if let deny = c.stringList("deny") { rules.deny = Set(deny) }
        if let issuers = c.stringList("issuers") { rules.issuers = Set(issuers) }
        if let allow = rules.allow, let both = allow.intersection(rules.deny).first {
            doc.report(c.node("deny"), "client '\(both)' is both allowed and denied", hint: "a deny wins; remove it from one list")
        }
        policy.clients = rules
    }

    mutating func readDataRules(_ top: MappingReader, doc: YAMLDocument) {
        var ids = Set<String>()
        for (i, node) in (top.sequence("data_rules") ?? []).enumerated() {
            let path = "data_rules[\(i)]"
            guard let r = doc.mapping(node, at: path, keys: ["id", "deny_security_labels", "contexts", "mode"]) else { continue }
            guard let id = r.string("id", required: true, hint: "a short name for the audit log, e.g. restricted-records") else { continue }
            if !ids.insert(id).inserted { doc.report(r.node("id"), "duplicate data rule id '\(id)'", hint: "ids name rules in the audit log: make them unique") }
            var labels: [String] = []
            for (label, labelNode) in r.stringItems("deny_security_labels") ?? [] {
                guard label.contains("|"), !label.hasPrefix("|"), !label.hasSuffix("|") else {
                    doc.report(labelNode, "security label '\(label)' must be system|code",
                               hint: "e.g. http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R")
                    continue
                }
                labels.append(label)
            }
            if !r.has("deny_security_labels") { r.missing("deny_security_labels", hint: "the system|code labels to withhold") }
            var accepted: Set<SMARTScope.Context>?
            if let items = r.stringItems("contexts") { accepted = contexts(items, doc: doc, path: path + ".contexts") }
            policy.dataRules.append(Policy.DataRule(id: id, labels: labels, contexts: accepted, mode: readMode(r, "mode", doc: doc) ?? .enforce))
        }
    }
}
