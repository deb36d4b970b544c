import NIOHTTP1

/// RFC 9110 §7.6.1: connection-specific headers never cross the proxy, in either
/// direction, nor does any header the `Connection` header names.
enum HopByHop {
    static let names: Set<String> = [
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer",
        "transfer-encoding", "upgrade",
    ]

    /// The headers without the hop-by-hop ones. Runs for every request and response:
    /// names are compared without making lower-cased copies, the `Connection` header's
    /// list is read in place (NIO's `canonicalForm` splits it into a new array on every
    /// call: 2 % of a small request's samples), and headers with nothing to drop (most
    /// requests) are returned as they are.
    /// `extra`: names the caller drops too (in the same pass).
    static func strip(_ headers: HTTPHeaders, alsoDropping extra: [String] = []) -> HTTPHeaders {
        var connection: [String] = []
        for (name, value) in headers where name.utf8.count == 10 && ASCIICase.equal(name, "connection") {
            connection.append(value)
        }
        func drops(_ name: String) -> Bool {
            isListed(name) || connection.contains { lists($0, name) } || extra.contains { ASCIICase.equal($0, name) }
        }
        guard headers.contains(where: { drops($0.name) }) else { return headers }
        var out = HTTPHeaders()
        for (name, value) in headers where !drops(name) {
            out.add(name: name, value: value)
        }
        return out
    }

    /// Whether the comma-separated `list` (a `Connection` value) has `name` among its
    /// tokens; optional whitespace around a token does not count, empty tokens are skipped.
    static func lists(_ list: String, _ name: String) -> Bool {
        var list = list, name = name
        return list.withUTF8 { bytes in
            name.withUTF8 { wanted in
                var start = 0
                while start <= bytes.count {
                    var end = start
                    while end < bytes.count, bytes[end] != UInt8(ascii: ",") { end += 1 }
                    var lo = start, hi = end
                    while lo < hi, bytes[lo] == 0x20 || bytes[lo] == 0x09 { lo += 1 }
                    while hi > lo, bytes[hi - 1] == 0x20 || bytes[hi - 1] == 0x09 { hi -= 1 }
                    if hi > lo, hi - lo == wanted.count, ASCIICase.equal(UnsafeBufferPointer(rebasing: bytes[lo..<hi]), wanted) { return true }
                    start = end + 1
                }
                return false
            }
        }
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
