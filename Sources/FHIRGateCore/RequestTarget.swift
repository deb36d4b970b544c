/// The raw HTTP request target, parsed once and strictly.
///
/// Everything downstream (route selection, classification, authorization, rate-limit
/// keys, logs and the request sent upstream) uses this one parsed value, so the gateway
/// and the EHR cannot disagree about what was asked (Envoy CVE-2019-9901 class).
/// Anything that two parsers could read differently is refused rather than normalised:
/// encoded `/` `.` `?` `\` or NUL in the path, dot or empty segments, `;` path
/// parameters, control characters, non-ASCII bytes, fragments, bad percent-escapes.
public struct RequestTarget: Sendable, Equatable {
    /// Decoded path segments (the path never contains encoded delimiters, so decoding
    /// cannot create new segments).
    public let segments: [String]
    /// Decoded query items in their original order; duplicates are kept (FHIR uses
    /// repeated parameters for AND).
    public let query: [QueryItem]

    public struct QueryItem: Sendable, Equatable {
        public let name: String
        public let value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public static let maximumLength = 8192

    public init(segments: [String], query: [QueryItem]) {
        self.segments = segments
        self.query = query
    }

    /// Parses an origin-form target (`/path?query`). Absolute-form and asterisk-form
    /// targets are refused: a reverse proxy has no use for them.
    public static func parse(_ raw: String) throws(GatewayError) -> RequestTarget {
        let bytes = Array(raw.utf8)
        guard !bytes.isEmpty, bytes.count <= maximumLength else { throw .malformedRequest(reason: "target_length") }
        guard bytes[0] == UInt8(ascii: "/") else { throw .malformedRequest(reason: "target_not_origin_form") }
        for b in bytes where b <= 0x20 || b >= 0x7F || b == UInt8(ascii: "#") || b == UInt8(ascii: "\\") {
            throw .malformedRequest(reason: "target_character")
        }
        let questionMark = bytes.firstIndex(of: UInt8(ascii: "?"))
        let pathBytes = bytes[..<(questionMark ?? bytes.endIndex)]
        let queryBytes = questionMark.map { bytes[($0 + 1)...] }

        var segments: [String] = []
        // Skip the leading "/" and split; "/" alone is the empty path. One trailing "/"
        // is ignored (`[base]/` is how many clients write the base); any other empty
        // segment is refused.
        var body = pathBytes.dropFirst()
        if body.last == UInt8(ascii: "/") { body = body.dropLast() }
        if !body.isEmpty {
            for raw in body.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
                guard !raw.isEmpty else { throw .malformedRequest(reason: "path_empty_segment") }
                guard !raw.contains(UInt8(ascii: ";")) else { throw .malformedRequest(reason: "path_parameter") }
                let decoded = try PercentDecoding.decodePathSegment(raw)
                guard decoded != ".", decoded != ".." else { throw .malformedRequest(reason: "path_dot_segment") }
                segments.append(decoded)
            }
        }

        var items: [QueryItem] = []
        if let queryBytes, !queryBytes.isEmpty {
            items = try parseQuery(queryBytes)
        }
        return RequestTarget(segments: segments, query: items)
    }

    /// Parses `application/x-www-form-urlencoded` text (a query string or a `_search`
    /// form body) with the same rules.
    public static func parseQuery(_ bytes: some Collection<UInt8>) throws(GatewayError) -> [QueryItem] {
        var items: [QueryItem] = []
        for pair in bytes.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let eq = pair.firstIndex(of: UInt8(ascii: "="))
            let rawName = eq.map { pair[pair.startIndex..<$0] } ?? pair[...]
            let rawValue = eq.map { pair[pair.index(after: $0)...] } ?? pair[pair.endIndex...]
            let name = try PercentDecoding.decodeQueryComponent(rawName)
            let value = try PercentDecoding.decodeQueryComponent(rawValue)
            guard !name.isEmpty else { throw .malformedRequest(reason: "query_empty_name") }
            items.append(QueryItem(name: name, value: value))
        }
        return items
    }
}

/// Percent-decoding that refuses what a second decoder could read differently.
enum PercentDecoding {
    static func decodePathSegment(_ raw: some Collection<UInt8>) throws(GatewayError) -> String {
        let decoded = try decode(raw, plusIsSpace: false)
        for b in decoded where b < 0x20 || b == 0x7F || b == UInt8(ascii: "/") || b == UInt8(ascii: "\\")
            || b == UInt8(ascii: "?") || b == UInt8(ascii: "#") || b == UInt8(ascii: ";") {
            throw .malformedRequest(reason: "path_encoded_delimiter")
        }
        // An encoded "." is refused: `%2e%2e` and `.%2e` are dot segments to some servers.
        if containsEncodedDot(raw) { throw .malformedRequest(reason: "path_encoded_dot") }
        guard let text = String(validating: decoded, as: UTF8.self) else { throw .malformedRequest(reason: "path_utf8") }
        return text
    }

    static func containsEncodedDot(_ raw: some Collection<UInt8>) -> Bool {
        var previous: (UInt8, UInt8) = (0, 0)
        for b in raw {
            if previous.0 == UInt8(ascii: "%"), previous.1 == UInt8(ascii: "2"), b == UInt8(ascii: "e") || b == UInt8(ascii: "E") { return true }
            previous = (previous.1, b)
        }
        return false
    }

    static func decodeQueryComponent(_ raw: some Collection<UInt8>) throws(GatewayError) -> String {
        let decoded = try decode(raw, plusIsSpace: true)
        for b in decoded where (b < 0x20 && b != 0x09) || b == 0x7F {
            throw .malformedRequest(reason: "query_control_character")
        }
        guard let text = String(validating: decoded, as: UTF8.self) else { throw .malformedRequest(reason: "query_utf8") }
        return text
    }

    private static func decode(_ raw: some Collection<UInt8>, plusIsSpace: Bool) throws(GatewayError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var iterator = raw.makeIterator()
        while let b = iterator.next() {
            if b == UInt8(ascii: "%") {
                guard let h = iterator.next(), let l = iterator.next(), let hv = hexValue(h), let lv = hexValue(l) else {
                    throw .malformedRequest(reason: "bad_percent_escape")
                }
                out.append(hv << 4 | lv)
            } else if plusIsSpace && b == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
            } else {
                out.append(b)
            }
        }
        return out
    }

    private static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): b - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// Percent-encoding for the target the gateway sends upstream, rebuilt from parsed values.
public enum PercentEncoding {
    /// Bytes left as they are in path segments and query components: RFC 3986 unreserved
    /// plus the sub-delimiters FHIR values use that carry no meaning in our rebuilt
    /// target. `,` stays literal because FHIR reads it as an OR separator after decoding
    /// either way; `&`, `=`, `+`, `%`, `|`, `?`, `#`, `/` (in segments) are encoded.
    static func isAllowed(_ b: UInt8, inPath: Bool) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "$"),
             UInt8(ascii: ","), UInt8(ascii: ":"), UInt8(ascii: "@"):
            return true
        case UInt8(ascii: "/"): return !inPath
        default: return false
        }
    }

    public static func encode(_ s: String, inPath: Bool) -> String {
        var out = [UInt8]()
        out.reserveCapacity(s.utf8.count)
        let hex = Array("0123456789ABCDEF".utf8)
        for b in s.utf8 {
            if isAllowed(b, inPath: inPath) {
                out.append(b)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0xF)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `name=value&…` from parsed items.
    public static func query(_ items: [RequestTarget.QueryItem]) -> String {
        items.map { encode($0.name, inPath: false) + "=" + encode($0.value, inPath: false) }.joined(separator: "&")
    }
}
