/// The outcome of authorizing one request.
public struct PolicyDecision: Sendable, Equatable {
    public enum Effect: Sendable, Equatable {
        case allow
        case deny(GatewayError)
    }

    public var effect: Effect
    /// Parameters the gateway adds to the upstream request (compartment and granular
    /// narrowing). Non-empty means the audit decision is `narrowed`.
    public var narrowing: [RequestTarget.QueryItem]
    /// What the response guard must verify before the client sees the response.
    public var responseCheck: ResponseCheck?
    /// Machine-readable reason (audit only).
    public var reason: String
    /// The scope context that granted the request.
    public var context: SMARTScope.Context?

    public static func deny(_ error: GatewayError) -> PolicyDecision {
        PolicyDecision(effect: .deny(error), narrowing: [], responseCheck: nil, reason: error.reason, context: nil)
    }

    public static func allow(_ reason: String, context: SMARTScope.Context? = nil, narrowing: [RequestTarget.QueryItem] = [],
                             responseCheck: ResponseCheck? = nil) -> PolicyDecision {
        PolicyDecision(effect: .allow, narrowing: narrowing, responseCheck: responseCheck, reason: reason, context: context)
    }

    public var isAllowed: Bool { effect == .allow }

    /// The audit log's decision word.
    public var auditDecision: String {
        switch effect {
        case .deny: "deny"
        case .allow: narrowing.isEmpty ? "allow" : "narrowed"
        }
    }
}

/// What the response guard has to verify on what comes back.
public struct ResponseCheck: Sendable, Equatable {
    /// Every returned resource must be in this patient's compartment (or of a type the
    /// policy lets `patient/` scopes read).
    public var patient: String?
    /// Per type, the granular scopes one of which each returned resource must match.
    public var granular: [String: [SMARTScope]]
    /// Types that may appear although outside the compartment.
    public var readableOutsideCompartment: Set<String>
    /// Types the token may see at all (for `_include`d resources); nil means any.
    public var visibleTypes: Set<String>?

    public init(patient: String?, granular: [String: [SMARTScope]] = [:], readableOutsideCompartment: Set<String> = [],
                visibleTypes: Set<String>? = nil) {
        self.patient = patient
        self.granular = granular
        self.readableOutsideCompartment = readableOutsideCompartment
        self.visibleTypes = visibleTypes
    }
}
