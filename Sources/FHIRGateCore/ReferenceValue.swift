/// A reference search value or Reference.reference string, in any of the forms FHIR
/// allows: `123`, `Patient/123`, `[base]/Patient/123`, `Patient/123/_history/2`.
public struct ReferenceValue: Sendable, Equatable {
    /// The resource type when the value names one.
    public let type: String?
    public let id: String

    public init(type: String?, id: String) {
        self.type = type
        self.id = id
    }

    /// Parses `value`. An absolute URL is accepted only under `base` (the route's public
    /// FHIR base); anything else is not a reference the gateway can vouch for.
    public static func parse(_ value: String, base: String?) -> ReferenceValue? {
        var rest = Substring(value)
        if rest.hasPrefix("http://") || rest.hasPrefix("https://") || rest.hasPrefix("urn:") {
            guard let base, !base.isEmpty else { return nil }
            let prefix = base.hasSuffix("/") ? base : base + "/"
            guard rest.hasPrefix(prefix) else { return nil }
            rest = rest.dropFirst(prefix.count)
        }
        let parts = rest.split(separator: "/", omittingEmptySubsequences: false)
        switch parts.count {
        case 1:
            guard FHIRId.isValid(parts[0]) else { return nil }
            return ReferenceValue(type: nil, id: String(parts[0]))
        case 2, 4:
            guard R4Tables.isResourceType(parts[0]), FHIRId.isValid(parts[1]) else { return nil }
            if parts.count == 4 { guard parts[2] == "_history", FHIRId.isValid(parts[3]) else { return nil } }
            return ReferenceValue(type: String(parts[0]), id: String(parts[1]))
        default:
            return nil
        }
    }
}

/// The FHIR id grammar: `[A-Za-z0-9\-\.]{1,64}`.
public enum FHIRId {
    public static func isValid(_ s: some StringProtocol) -> Bool {
        let utf8 = s.utf8
        guard !utf8.isEmpty, utf8.count <= 64 else { return false }
        return utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x2E
        }
    }
}
