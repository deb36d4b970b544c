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
    /// A write that changes an existing resource under a `patient/` scope: the current
    /// version must pass this check before the write is forwarded (otherwise a write
    /// could take over another patient's resource).
    public var writePrecheck: ResponseCheck?
    /// The query sent upstream instead of the client's (Bulk kick-off: aliases normalised,
    /// `_type` added or joined). Narrowing is not added to it.
    public var upstreamQuery: [RequestTarget.QueryItem]?
    /// A Bulk Data kick-off: the types the export may hold (nil: any, a wildcard scope).
    public var isBulkKickoff = false
    public var bulkTypes: [String]?
    /// Policy rules that matched (for `explain` and policy tests).
    public var matchedRules: [String] = []
    /// The enforcing rule that denied the request, if one did (audit `policy_rule`).
    public var denyingRule: String?
    /// What a report-only policy or rule would have denied (audit `would_deny`).
    public var wouldDeny: [String] = []
    /// Report-only data rules: rule id → labels whose resources would have been withheld.
    public var trialSecurityLabels: [String: [String]] = [:]

    public static func deny(_ error: GatewayError) -> PolicyDecision {
        PolicyDecision(effect: .deny(error), narrowing: [], responseCheck: nil, reason: error.reason, context: nil, writePrecheck: nil)
    }

    public static func allow(_ reason: String, context: SMARTScope.Context? = nil, narrowing: [RequestTarget.QueryItem] = [],
                             responseCheck: ResponseCheck? = nil, writePrecheck: ResponseCheck? = nil) -> PolicyDecision {
        PolicyDecision(effect: .allow, narrowing: narrowing, responseCheck: responseCheck, reason: reason, context: context,
                       writePrecheck: writePrecheck)
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
    /// Whether a Patient resource whose `link.other` names the patient is shown too
    /// (merged or linked records; policy `patient_scopes.follow_patient_links`).
    public var followPatientLinks: Bool
    /// For one resource's history: a Bundle left with no entry is hidden (404) like the
    /// missing resource it then looks like, instead of answering "exists, not yours".
    public var hideWhenEmptied = false
    /// Resources carrying any of these `system|code` security labels are withheld (policy
    /// data rules).
    public var deniedSecurityLabels: [String] = []

    public init(patient: String?, granular: [String: [SMARTScope]] = [:], readableOutsideCompartment: Set<String> = [],
                visibleTypes: Set<String>? = nil, followPatientLinks: Bool = false) {
        self.patient = patient
        self.granular = granular
        self.readableOutsideCompartment = readableOutsideCompartment
        self.visibleTypes = visibleTypes
        self.followPatientLinks = followPatientLinks
    }
}
