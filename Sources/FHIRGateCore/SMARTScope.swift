/// One SMART on FHIR clinical scope, v1 (`patient/Observation.read`) or v2
/// (`patient/Observation.rs?category=…`), normalised to v2 permissions.
///
/// Parsing is strict: a scope that is not exactly of the grammar is not a clinical scope
/// (`parse` returns nil) and grants nothing — never widened, never reinterpreted.
public struct SMARTScope: Sendable, Hashable {
    public enum Context: String, Sendable, Hashable {
        case patient, user, system
    }

    public let context: Context
    /// The resource type, or nil for the wildcard `*`.
    public let resourceType: String?
    public let permissions: SMARTPermissions
    /// Granular constraints (`?param=value&…`), ANDed; empty for a resource-level scope.
    public let constraints: [Constraint]

    public struct Constraint: Sendable, Hashable {
        public let parameter: String
        public let value: String
    }

    public init(context: Context, resourceType: String?, permissions: SMARTPermissions, constraints: [Constraint] = []) {
        self.context = context
        self.resourceType = resourceType
        self.permissions = permissions
        self.constraints = constraints
    }

    public static func parse(_ text: some StringProtocol) -> SMARTScope? {
        let s = Substring(text)
        guard let slash = s.firstIndex(of: "/"), let context = Context(rawValue: String(s[..<slash])) else { return nil }
        var rest = s[s.index(after: slash)...]
        var query: Substring?
        if let q = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: q)...]
            rest = rest[..<q]
        }
        guard let dot = rest.firstIndex(of: ".") else { return nil }
        let typePart = rest[..<dot]
        let permissionPart = rest[rest.index(after: dot)...]
        let type: String?
        if typePart == "*" {
            type = nil
        } else if R4Tables.isResourceType(typePart) {
            type = String(typePart)
        } else {
            return nil
        }
        let permissions: SMARTPermissions
        let isV1: Bool
        switch permissionPart {
        case "read": permissions = [.read, .search]; isV1 = true
        case "write": permissions = [.create, .update, .delete]; isV1 = true
        case "*": permissions = .all; isV1 = true
        default:
            guard let p = SMARTPermissions(v2Letters: permissionPart) else { return nil }
            permissions = p
            isV1 = false
        }
        var constraints: [Constraint] = []
        if let query {
            // Granular constraints are v2 only, need a concrete type, a known parameter of
            // that type, and no modifiers or chains (experimental in SMART 2.2).
            guard !isV1, let type, !query.isEmpty else { return nil }
            for pair in query.split(separator: "&", omittingEmptySubsequences: false) {
                guard let eq = pair.firstIndex(of: "=") else { return nil }
                let name = String(pair[..<eq])
                let value = String(pair[pair.index(after: eq)...])
                guard !name.isEmpty, !value.isEmpty, !name.contains(":"), !name.contains("."),
                      R4Tables.searchParameter(name, on: type) != nil,
                      let decoded = value.removingPercentEncodingStrict() else { return nil }
                constraints.append(Constraint(parameter: name, value: decoded))
            }
        }
        return SMARTScope(context: context, resourceType: type, permissions: permissions, constraints: constraints)
    }

    public func covers(type: String) -> Bool {
        resourceType == nil || resourceType == type
    }
}

/// SMART v2 permission letters, always in `cruds` order.
public struct SMARTPermissions: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let create = SMARTPermissions(rawValue: 1 << 0)
    public static let read = SMARTPermissions(rawValue: 1 << 1)
    public static let update = SMARTPermissions(rawValue: 1 << 2)
    public static let delete = SMARTPermissions(rawValue: 1 << 3)
    public static let search = SMARTPermissions(rawValue: 1 << 4)
    public static let all: SMARTPermissions = [.create, .read, .update, .delete, .search]

    /// Letters must be a non-empty subsequence of `cruds`, in that order.
    public init?(v2Letters: some StringProtocol) {
        var value: UInt8 = 0
        var next = 0
        let order: [Character] = ["c", "r", "u", "d", "s"]
        for ch in v2Letters {
            guard let i = order[next...].firstIndex(of: ch) else { return nil }
            value |= 1 << UInt8(i)
            next = i + 1
        }
        guard value != 0 else { return nil }
        rawValue = value
    }

    public var letters: String {
        zip(["c", "r", "u", "d", "s"], 0..<5).compactMap { contains(SMARTPermissions(rawValue: 1 << UInt8($1))) ? $0 : nil }.joined()
    }
}

extension StringProtocol {
    /// Percent-decoding that fails on malformed escapes instead of guessing.
    func removingPercentEncodingStrict() -> String? {
        try? PercentDecoding.decodeQueryComponent(Array(utf8))
    }
}

extension SMARTScope: CustomStringConvertible {
    /// The scope in SMART v2 form, e.g. `patient/Observation.rs?category=…`.
    public var description: String {
        var letters = ""
        for (letter, p) in [("c", SMARTPermissions.create), ("r", .read), ("u", .update), ("d", .delete), ("s", .search)] where permissions.contains(p) {
            letters += letter
        }
        let query = constraints.isEmpty ? "" : "?" + constraints.map { $0.parameter + "=" + $0.value }.joined(separator: "&")
        return context.rawValue + "/" + (resourceType ?? "*") + "." + letters + query
    }
}
