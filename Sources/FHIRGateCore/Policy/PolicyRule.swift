/// One ordered rule of a policy: when every given part of `match` holds, the rule applies
/// its effect. Parts left out match anything.
public struct PolicyRule: Sendable, Equatable {
    public enum Effect: String, Sendable {
        case allow, deny
    }

    public var id: String
    public var clients: Set<String>?
    public var contexts: Set<SMARTScope.Context>?
    /// Interaction codes and `$operation` names.
    public var codes: Set<String>?
    public var types: Set<String>?
    /// Parameters that must be present (by code, e.g. `_revinclude`, `_has`).
    public var parameters: Set<String>?
    public var effect: Effect
    /// The status a deny answers with (403 unless the rule says otherwise).
    public var status: Int
    public var mode: Policy.Mode

    public init(id: String, clients: Set<String>? = nil, contexts: Set<SMARTScope.Context>? = nil, codes: Set<String>? = nil,
                types: Set<String>? = nil, parameters: Set<String>? = nil, effect: Effect, status: Int = 403, mode: Policy.Mode = .enforce) {
        self.id = id
        self.clients = clients
        self.contexts = contexts
        self.codes = codes
        self.types = types
        self.parameters = parameters
        self.effect = effect
        self.status = status
        self.mode = mode
    }

    func matches(_ request: FHIRRequest, code: String, token: AccessToken, context: SMARTScope.Context?) -> Bool {
        if let codes, !codes.contains(code) { return false }
        if let types { guard let t = request.resourceType, types.contains(t) else { return false } }
        if let contexts { guard let context, contexts.contains(context) else { return false } }
        if let clients { guard let id = token.clientID, clients.contains(id) else { return false } }
        if let parameters, !parameters.allSatisfy({ p in request.parameters.contains { $0.code == p } }) { return false }
        return true
    }

    /// Whether every request this rule matches is also matched by `other` (used to find
    /// rules that can never take effect).
    public func isCovered(by other: PolicyRule) -> Bool {
        func covers<T>(_ outer: Set<T>?, _ inner: Set<T>?) -> Bool {
            guard let outer else { return true }
            guard let inner else { return false }
            return inner.isSubset(of: outer)
        }
        return covers(other.clients, clients) && covers(other.contexts, contexts) && covers(other.codes, codes)
            && covers(other.types, types) && (other.parameters ?? []).isSubset(of: parameters ?? [])
    }
}

/// The rules of a policy, indexed by resource type so that evaluating a request looks only
/// at rules that can match it: the cost does not grow with unrelated rules.
public struct PolicyRuleSet: Sendable {
    public let rules: [PolicyRule]
    /// What happens when rules are listed and none allows: `deny` unless the file says otherwise.
    public let defaultEffect: PolicyRule.Effect
    let byType: [String: [Int]]
    let anyType: [Int]

    public init(rules: [PolicyRule], defaultEffect: PolicyRule.Effect = .deny) {
        self.rules = rules
        self.defaultEffect = defaultEffect
        var byType: [String: [Int]] = [:]
        var anyType: [Int] = []
        for (i, rule) in rules.enumerated() {
            if let types = rule.types {
                for t in types { byType[t, default: []].append(i) }
            } else {
                anyType.append(i)
            }
        }
        self.byType = byType
        self.anyType = anyType
    }

    public struct Outcome: Sendable, Equatable {
        /// The enforcing deny that applies (deny overrides allow), if any.
        public var denial: PolicyRule?
        /// Whether the request ends denied by default (rules listed, none allowed).
        public var deniedByDefault = false
        /// Ids of every rule that matched, in file order.
        public var matched: [String] = []
        /// Report-only rules that would have denied (or, with them enforced, the default).
        public var wouldDeny: [String] = []
    }

    public func evaluate(_ request: FHIRRequest, code: String, token: AccessToken, context: SMARTScope.Context?,
                         exemptFromDefault: Bool) -> Outcome {
        var outcome = Outcome()
        guard !rules.isEmpty else { return outcome }
        var allowed = false
        // Rules for this type and rules for any type, merged back into file order.
        let typed = request.resourceType.flatMap { byType[$0] } ?? []
        var i = 0, j = 0
        while i < typed.count || j < anyType.count {
            let index: Int
            if j >= anyType.count || (i < typed.count && typed[i] < anyType[j]) {
                index = typed[i]; i += 1
            } else {
                index = anyType[j]; j += 1
            }
            let rule = rules[index]
            guard rule.matches(request, code: code, token: token, context: context) else { continue }
            outcome.matched.append(rule.id)
            switch (rule.effect, rule.mode) {
            case (.deny, .enforce): if outcome.denial == nil { outcome.denial = rule }
            case (.deny, .reportOnly): outcome.wouldDeny.append(rule.id)
            case (.allow, .enforce): allowed = true
            case (.allow, .reportOnly): break // a trial allow changes nothing
            }
        }
        if outcome.denial == nil, !allowed, defaultEffect == .deny, !exemptFromDefault {
            outcome.deniedByDefault = true
        }
        return outcome
    }
}
