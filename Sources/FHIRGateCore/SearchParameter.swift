/// One search (or operation) parameter as it appears in a query or `_search` form body,
/// split into the parts authorization has to look at.
public struct SearchParameter: Sendable, Equatable {
    /// The full parameter name as sent, e.g. `subject:Patient.name` or `_has:Observation:patient:code`.
    public let rawName: String
    /// The decoded value as sent.
    public let value: String
    /// The parameter code, e.g. `subject`, `_include`, `_has`.
    public let code: String
    /// The modifier after `:`, e.g. `exact`, `missing`, `Patient` (a type modifier), `iterate`.
    public let modifier: String?
    /// The chained part after `.`, e.g. `name` in `subject:Patient.name`.
    public let chain: String?

    public init(name: String, value: String) {
        rawName = name
        self.value = value
        if name.hasPrefix("_has:") {
            code = "_has"
            modifier = String(name.dropFirst(5))
            chain = nil
            return
        }
        // code[:modifier][.chain…]
        let dot = name.firstIndex(of: ".")
        let head = dot.map { name[..<$0] } ?? name[...]
        chain = dot.map { String(name[name.index(after: $0)...]) }
        if let colon = head.firstIndex(of: ":") {
            code = String(head[..<colon])
            modifier = String(head[head.index(after: colon)...])
        } else {
            code = String(head)
            modifier = nil
        }
    }

    /// The comma-separated OR values, with `\,` kept as a literal comma inside a value.
    public var orValues: [String] {
        SearchParameter.splitOrList(value)
    }

    static func splitOrList(_ value: String) -> [String] {
        var values: [String] = []
        var current = ""
        var escaped = false
        for ch in value {
            if escaped {
                current.append(ch)
                escaped = false
            } else if ch == "\\" {
                current.append(ch)
                escaped = true
            } else if ch == "," {
                values.append(current)
                current = ""
            } else {
                current.append(ch)
            }
        }
        values.append(current)
        return values
    }

    /// Parameters that shape the result and never select data.
    public static let resultParameters: Set<String> = [
        "_format", "_pretty", "_summary", "_elements", "_count", "_sort", "_total", "_contained",
        "_containedType", "_include", "_revinclude",
    ]
}
