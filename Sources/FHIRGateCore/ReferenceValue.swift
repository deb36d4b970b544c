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
        // Byte-wise prefix tests: `hasPrefix` compares Characters (Unicode-aware and slow),
        // and this runs for every reference the response guard reads.
        let bytes = rest.utf8
        if bytes.starts(with: "http://".utf8) || bytes.starts(with: "https://".utf8) || bytes.starts(with: "urn:".utf8) {
            guard let base, !base.isEmpty else { return nil }
            let prefix = base.utf8.last == 0x2F ? base : base + "/"
            guard bytes.starts(with: prefix.utf8) else { return nil }
            rest = Substring(bytes.dropFirst(prefix.utf8.count))
        }
        // Up to four segments, found without splitting into an array: this runs for every
        // reference of every resource the response guard checks.
        let utf8 = rest.utf8
        guard let first = utf8.firstIndex(of: 0x2F) else {
            guard FHIRId.isValid(rest) else { return nil }
            return ReferenceValue(type: nil, id: String(rest))
        }
        let type = rest[..<first]
        let afterType = utf8.index(after: first)
        let second = utf8[afterType...].firstIndex(of: 0x2F)
        let id = rest[afterType..<(second ?? rest.endIndex)]
        guard R4Tables.isResourceType(type), FHIRId.isValid(id) else { return nil }
        if let second {
            // `Type/id/_history/vid`, nothing more.
            let afterID = utf8.index(after: second)
            guard let third = utf8[afterID...].firstIndex(of: 0x2F), rest[afterID..<third] == "_history" else { return nil }
            let version = rest[utf8.index(after: third)...]
            guard !version.utf8.contains(0x2F), FHIRId.isValid(version) else { return nil }
        }
        return ReferenceValue(type: String(type), id: String(id))
    }
}

/// The absolute URL prefixes under which a reference names a resource of this server.
/// Requests use the route's public base; an upstream that writes absolute references
/// (some EHRs do) writes its own base, which names the same resources.
public struct ReferenceBases: Sendable {
    public let primary: String
    /// The upstream's own bases (configured, and advertised when it writes another).
    public let upstream: [String]

    public init(_ primary: String, upstream: [String] = []) {
        self.primary = primary
        self.upstream = upstream
    }
}

extension ReferenceValue {
    /// Parses `value`, accepting an absolute URL under either base.
    public static func parse(_ value: String, bases: ReferenceBases) -> ReferenceValue? {
        if let parsed = parse(value, base: bases.primary) { return parsed }
        // Only an absolute URL reads differently under another base.
        guard value.utf8.starts(with: "http".utf8) || value.utf8.starts(with: "urn:".utf8) else { return nil }
        for base in bases.upstream {
            if let parsed = parse(value, base: base) { return parsed }
        }
        return nil
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
