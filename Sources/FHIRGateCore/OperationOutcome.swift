/// A minimal FHIR R4 OperationOutcome with one issue, serialized by hand so that error
/// paths allocate little and never echo request data.
public struct OperationOutcome: Sendable, Equatable {
    /// The code system of the gateway's reason codes (`issue.details.coding`).
    public static let reasonSystem = "urn:fhirgate:reason"

    public var severity: String
    public var code: String
    public var diagnostics: String
    /// The gateway's machine-readable reason, for answers about the client's own request
    /// (an app vendor can act on `other_patient` or `policy_search_parameter_not_allowed`).
    public var reason: String?

    public init(severity: String = "error", code: String, diagnostics: String, reason: String? = nil) {
        self.severity = severity
        self.code = code
        self.diagnostics = diagnostics
        self.reason = reason
    }

    public var json: String {
        let details = reason.map { ",\"details\":{\"coding\":[{\"system\":\"\(Self.reasonSystem)\",\"code\":\"\(JSONText.escape($0))\"}]}" } ?? ""
        return "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"\(JSONText.escape(severity))\",\"code\":\"\(JSONText.escape(code))\"\(details),\"diagnostics\":\"\(JSONText.escape(diagnostics))\"}]}"
    }
}

/// JSON string escaping for text the gateway writes itself (outcomes, audit records).
public enum JSONText {
    public static func escape(_ s: String) -> String {
        // Most values (ids, paths, codes) need no escaping: return them as they are.
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) { return s }
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count + 8)
        appendEscaped(s, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `s` as the inside of a JSON string: quote, backslash and control
    /// characters escaped, everything else as UTF-8. Runs that need no escaping (most
    /// of every value) are copied whole: this is on the audit writer's path per request.
    public static func appendEscaped(_ s: String, to out: inout [UInt8]) {
        var s = s
        s.withUTF8 { bytes in
            var start = 0
            for i in 0..<bytes.count {
                let b = bytes[i]
                guard b < 0x20 || b == 0x22 || b == 0x5C else { continue }
                if start < i { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<i])) }
                start = i + 1
                switch b {
                case 0x22: out.append(0x5C); out.append(0x22)
                case 0x5C: out.append(0x5C); out.append(0x5C)
                case 0x0A: out.append(0x5C); out.append(0x6E)
                case 0x0D: out.append(0x5C); out.append(0x72)
                case 0x09: out.append(0x5C); out.append(0x74)
                default: out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, Hex.digit(b >> 4), Hex.digit(b)])
                }
            }
            if start < bytes.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start...])) }
        }
    }
}
