import NIOHTTP1

/// RFC 9110 §7.6.1: connection-specific headers never cross the proxy, in either
/// direction, nor does any header the `Connection` header names.
enum HopByHop {
    static let names: Set<String> = [
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer",
        "transfer-encoding", "upgrade",
    ]

    /// The headers without the hop-by-hop ones. Runs for every request and response:
    /// names are compared without making lower-cased copies, and headers with nothing to
    /// drop (most) are returned as they are.
    /// `extra`: names the caller drops too (in the same pass).
    static func strip(_ headers: HTTPHeaders, alsoDropping extra: [String] = []) -> HTTPHeaders {
        let named = headers[canonicalForm: "connection"]
        func drops(_ name: String) -> Bool {
            isListed(name) || named.contains { ASCIICase.equal($0, name) } || extra.contains { ASCIICase.equal($0, name) }
        }
        guard headers.contains(where: { drops($0.name) }) else { return headers }
        var out = HTTPHeaders()
        for (name, value) in headers where !drops(name) {
            out.add(name: name, value: value)
        }
        return out
    }

    /// Whether `name` is one of `names`, ASCII case-insensitively.
    static func isListed(_ name: String) -> Bool {
        // Most names are ruled out by their length alone.
        let length = name.utf8.count
        guard length < 64, listedLengths & (1 << length) != 0 else { return false }
        return names.contains { ASCIICase.equal($0, name) }
    }

    /// Bit n is set when a listed name is n bytes long.
    static let listedLengths: UInt64 = names.reduce(0) { $0 | (1 << $1.utf8.count) }
}
