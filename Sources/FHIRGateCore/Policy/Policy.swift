/// A route's policy, compiled from its YAML file: what the route exposes, which searches
/// it accepts, which clients it serves, which data it withholds, and ordered rules. It can
/// only narrow what SMART scopes allow: `PolicyEngine` runs after the scope decision and
/// only ever denies, narrows or adds response checks.
public struct Policy: Sendable {
    public enum Mode: String, Sendable {
        case enforce
        case reportOnly = "report-only"
    }

    public var name: String
    /// `report-only`: nothing this policy decides changes a response; what it would have
    /// denied goes to the audit record's `would_deny`.
    public var mode: Mode = .enforce
    public var exposure: Exposure?
    public var search: SearchSurface?
    public var clients: ClientRules?
    public var patientScopes = PatientScopes()
    public var dataRules: [DataRule] = []
    public var rules = PolicyRuleSet(rules: [])

    public init(name: String) {
        self.name = name
    }

    /// Interactions and operations the route offers at all (an allow-list).
    public struct Exposure: Sendable, Equatable {
        /// Per resource type: interaction codes and `$operation` names.
        public var types: [String: Set<String>] = [:]
        /// Codes every resource type gets (the `"*"` entry).
        public var anyType: Set<String> = []
        /// System-level codes (`batch`, `search-system`, `history-system`, `$export`, …).
        public var system: Set<String> = []

        public init() {}

        public func allows(type: String?, code: String) -> Bool {
            guard let type else { return system.contains(code) }
            return types[type]?.contains(code) == true || anyType.contains(code)
        }

        public func exposes(type: String) -> Bool { types[type] != nil || !anyType.isEmpty }

        /// Bulk status and file requests belong to whichever export was exposed.
        public var exposesExport: Bool {
            system.contains("$export") || anyType.contains("$export") || types.values.contains { $0.contains("$export") }
        }
    }

    /// The search parameters, includes and modifiers the route accepts.
    public struct SearchSurface: Sendable, Equatable {
        /// Per searched type (search parameter codes).
        public var parameters: [String: Set<String>] = [:]
        /// Accepted on every type (`_id`, `_count`, `_lastUpdated`, …).
        public var common: Set<String> = []
        /// Per searched type: accepted `_include` / `_revinclude` values.
        public var includes: [String: Set<String>] = [:]
        public var revincludes: [String: Set<String>] = [:]
        /// Accepted modifiers (`missing`, `exact`, …); nil accepts any that is not a chain.
        public var modifiers: Set<String>?
        public var chains = false
        public var has = false
        public var iterate = false
        public var maxCount: Int?

        public init() {}
    }

    /// Which clients the route serves.
    public struct ClientRules: Sendable, Equatable {
        /// Scope contexts the route accepts (e.g. only `patient/` on a patient-facing API).
        public var contexts: Set<SMARTScope.Context>?
        public var allow: Set<String>?
        public var deny: Set<String> = []
        public var issuers: Set<String>?

        public init() {}

        public func check(_ token: AccessToken, context: SMARTScope.Context?) -> GatewayError? {
            if let issuers, !issuers.contains(token.issuer) { return .forbidden(reason: "policy_issuer") }
            if let id = token.clientID, deny.contains(id) { return .forbidden(reason: "policy_client_denied") }
            if let allow, !(token.clientID.map(allow.contains) ?? false) { return .forbidden(reason: "policy_client_not_allowed") }
            if let contexts, let context, !contexts.contains(context) { return .forbidden(reason: "policy_scope_context") }
            return nil
        }
    }

    public struct PatientScopes: Sendable, Equatable {
        public enum CompartmentMode: String, Sendable {
            /// Searches without the patient parameter get it added.
            case narrow
            /// Searches must name the patient themselves (refused otherwise).
            case require
        }

        public var compartment = CompartmentMode.narrow
        /// Types whose responses are not verified under `patient/` scopes (an explicit
        /// opt-out, e.g. for a trusted upstream that filters itself).
        public var unverifiedTypes: Set<String> = []

        public init() {}
    }

    /// Withholds resources carrying any of the security labels from the contexts.
    public struct DataRule: Sendable, Equatable {
        public var id: String
        /// `system|code` tokens matched against `meta.security`.
        public var labels: [String]
        public var contexts: Set<SMARTScope.Context>?
        public var mode: Mode

        public init(id: String, labels: [String], contexts: Set<SMARTScope.Context>?, mode: Mode) {
            self.id = id
            self.labels = labels
            self.contexts = contexts
            self.mode = mode
        }
    }
}
