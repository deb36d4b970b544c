/// A minimal FHIR R4 OperationOutcome with one issue, serialized by hand so that error
/// paths allocate little and never echo request data.
public struct OperationOutcome: Sendable, Equatable {
    public var severity: String
    public var code: String
    public var diagnostics: String

    public init(severity: String = "error", code: String, diagnostics: String) {
        self.severity = severity
        self.code = code
        self.diagnostics = diagnostics
    }

    public var json: String {
        "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"\(JSONText.escape(severity))\",\"code\":\"\(JSONText.escape(code))\",\"diagnostics\":\"\(JSONText.escape(diagnostics))\"}]}"
    }
}

/// JSON string escaping for text the gateway writes itself (outcomes, audit records).
public enum JSONText {
    public static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20:
                let hex = String(c.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
