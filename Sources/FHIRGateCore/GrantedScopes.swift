/// The clinical scopes of one token, with union semantics: a request is covered if any
/// one scope covers it. Non-clinical scopes (`openid`, `launch/patient`, …) and malformed
/// ones are kept only as text for the audit log; they grant nothing.
public struct GrantedScopes: Sendable, Equatable {
    public let scopes: [SMARTScope]
    public let raw: [String]

    public init(_ scopeString: String) {
        self.init(list: scopeString.split(separator: " ").map(String.init))
    }

    public init(list: [String]) {
        raw = list
        scopes = list.compactMap { SMARTScope.parse($0) }
    }

    /// The scopes of `context` that grant every letter of `needed` on `type`. When one of
    /// them is resource-level (no constraints) it alone is returned: a resource-level
    /// grant beats granular ones for the same type.
    public func matching(context: SMARTScope.Context, type: String, needed: SMARTPermissions) -> ScopeMatch {
        // Union semantics: letters may come from different scopes, so check each letter.
        var granular: [SMARTScope] = []
        for letterBit in 0..<5 {
            let letter = SMARTPermissions(rawValue: 1 << UInt8(letterBit))
            guard needed.contains(letter) else { continue }
            let candidates = scopes.filter { $0.context == context && $0.covers(type: type) && $0.permissions.contains(letter) }
            if candidates.isEmpty { return .none }
            if candidates.contains(where: { $0.constraints.isEmpty }) { continue }
            granular += candidates
        }
        return granular.isEmpty ? .full : .granular(Array(Set(granular)))
    }

    public func hasContext(_ context: SMARTScope.Context) -> Bool {
        scopes.contains { $0.context == context }
    }
}

/// How far a token's scopes cover one (context, type, permissions) question.
public enum ScopeMatch: Sendable, Equatable {
    case none
    /// A resource-level scope covers it.
    case full
    /// Only granular scopes cover it: the result must match one of their constraint sets.
    case granular([SMARTScope])
}
