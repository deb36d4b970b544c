import FHIRGateCore
import Yams

/// Ordered rules: parsed, checked, and refused when one can never take effect.
extension PolicyFile {
    static let ruleKeys: Set<String> = ["id", "match", "effect", "status", "mode", "description"]
    static let matchKeys: Set<String> = ["clients", "contexts", "interactions", "operations", "types", "parameters"]

    mutating func readRules(_ top: MappingReader, doc: YAMLDocument) {
        var rules: [PolicyRule] = []
        var nodes: [Node] = []
        var ids: [String: Node] = [:]
        for (i, node) in (top.sequence("rules") ?? []).enumerated() {
            let path = "rules[\(i)]"
            guard let r = doc.mapping(node, at: path, keys: Self.ruleKeys) else { continue }
            _ = r.string("description")
            guard let id = r.string("id", required: true, hint: "a short name for the audit log, e.g. no-writes") else { continue }
            if let first = ids[id] {
                doc.report(r.node("id"), "duplicate rule id '\(id)' (first at line \((first.mark?.line ?? 0)))", hint: "ids name rules in the audit log: make them unique")
            }
            ids[id] = r.node("id")
            var rule = PolicyRule(id: id, effect: .deny)
            if let effect = r.string("effect", required: true, hint: "allow or deny") {
                if let e = PolicyRule.Effect(rawValue: effect) {
                    rule.effect = e
                } else {
                    doc.report(r.node("effect"), "'\(path).effect' must be allow or deny")
                }
            }
            if let status = r.int("status") {
                if !GatewayError.policyStatuses.contains(status) {
                    doc.report(r.node("status"), "'\(path).status' must be one of 400, 403, 404, 405")
                } else if rule.effect == .allow {
                    doc.report(r.node("status"), "'status' only applies to deny rules")
                }
                rule.status = status
            }
            rule.mode = readMode(r, "mode", doc: doc) ?? .enforce
            if let m = doc.mapping(r.node("match"), at: path + ".match", keys: Self.matchKeys) {
                readMatch(m, into: &rule, doc: doc, path: path + ".match")
            }
            rules.append(rule)
            nodes.append(node)
        }
        var defaultEffect = PolicyRule.Effect.deny
        if let text = top.string("default_effect") {
            if let e = PolicyRule.Effect(rawValue: text) { defaultEffect = e } else {
                doc.report(top.node("default_effect"), "'default_effect' must be allow or deny")
            }
        }
        reportUnreachable(rules, nodes: nodes, doc: doc)
        policy.rules = PolicyRuleSet(rules: rules, defaultEffect: defaultEffect)
    }

    func readMatch(_ m: MappingReader, into rule: inout PolicyRule, doc: YAMLDocument, path: String) {
        if let clients = m.stringList("clients") { rule.clients = Set(clients) }
        if let items = m.stringItems("contexts") { rule.contexts = contexts(items, doc: doc, path: path + ".contexts") }
        if let items = m.stringItems("types") { rule.types = types(items, doc: doc, path: path + ".types") }
        var codes: Set<String>?
        if let items = m.stringItems("interactions") {
            codes = []
            for (code, node) in items {
                guard PolicyCode.interactions.contains(code) else {
                    doc.report(node, "unknown interaction '\(code)' in '\(path).interactions'",
                               hint: YAMLDocument.suggestion(code, in: PolicyCode.interactions) ?? "FHIR interaction codes: read, vread, search-type, …")
                    continue
                }
                codes?.insert(PolicyCode.normalized(code))
            }
        }
        if let items = m.stringItems("operations") {
            codes = codes ?? []
            for (raw, node) in items {
                let name = raw.hasPrefix("$") ? String(raw.dropFirst()) : raw
                guard PolicyCode.operations.contains(name) else {
                    doc.report(node, "unknown operation '\(raw)' in '\(path).operations'",
                               hint: YAMLDocument.suggestion(name, in: PolicyCode.operations) ?? "e.g. everything, export")
                    continue
                }
                codes?.insert("$" + name)
            }
        }
        rule.codes = codes
        if let items = m.stringItems("parameters") {
            var set = Set<String>()
            for (p, node) in items {
                guard p.hasPrefix("_") || R4Tables.resourceTypes.contains(where: { R4Tables.searchParameter(p, on: $0) != nil }) else {
                    doc.report(node, "'\(p)' is not an R4 search parameter", hint: "parameters are matched by code, e.g. _revinclude, patient")
                    continue
                }
                set.insert(p)
            }
            rule.parameters = set
        }
    }

    /// A rule that can never change a decision is a mistake in the file: its types or
    /// interactions are not exposed, its contexts are not accepted, or an earlier rule
    /// already decides everything it matches (deny overrides allow).
    func reportUnreachable(_ rules: [PolicyRule], nodes: [Node], doc: YAMLDocument) {
        for (i, rule) in rules.enumerated() {
            let node = nodes[i]
            if let accepted = policy.clients?.contexts, let contexts = rule.contexts, contexts.isDisjoint(with: accepted) {
                doc.report(node, "rule '\(rule.id)' can never match: its contexts are not accepted by 'clients.contexts'",
                           hint: "remove the rule or widen clients.contexts")
                continue
            }
            if let exposure = policy.exposure, let codes = rule.codes {
                let types: [String?] = rule.types.map { $0.map(Optional.some) } ?? [nil]
                let reachable = types.contains { type in
                    codes.contains { code in
                        if let type { return exposure.allows(type: type, code: code) }
                        return exposure.system.contains(code) || !exposure.anyType.isEmpty && exposure.anyType.contains(code)
                            || exposure.types.values.contains { $0.contains(code) }
                    }
                }
                if !reachable {
                    doc.report(node, "rule '\(rule.id)' can never match: what it matches is not exposed", hint: "check 'exposure' or the rule's types and interactions")
                    continue
                }
            } else if let exposure = policy.exposure, let types = rule.types, !types.contains(where: exposure.exposes) {
                doc.report(node, "rule '\(rule.id)' can never match: none of its types is exposed", hint: "check 'exposure' or the rule's types")
                continue
            }
            for (j, other) in rules.enumerated() where j != i {
                let shadows: Bool
                switch (other.effect, rule.effect) {
                case (.deny, .allow): shadows = other.mode == .enforce && rule.mode == .enforce // deny overrides, wherever it is
                case (.deny, .deny), (.allow, .allow): shadows = j < i && other.mode == rule.mode
                    && (other.status == rule.status || rule.effect == .allow)
                default: shadows = false
                }
                if shadows, rule.isCovered(by: other) {
                    doc.report(node, "rule '\(rule.id)' never takes effect: rule '\(other.id)' (line \((nodes[j].mark?.line ?? 0))) matches everything it matches",
                               hint: other.effect == .deny && rule.effect == .allow ? "a deny overrides an allow: narrow the deny rule" : "remove the redundant rule")
                    break
                }
            }
        }
    }
}
