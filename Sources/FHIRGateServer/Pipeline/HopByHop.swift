import NIOHTTP1

/// RFC 9110 §7.6.1: connection-specific headers never cross the proxy, in either
/// direction, nor does any header the `Connection` header names.
enum HopByHop {
    static let names: Set<String> = [
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer",
        "transfer-encoding", "upgrade",
    ]

    static func strip(_ headers: HTTPHeaders) -> HTTPHeaders {
        var named = names
        for value in headers[canonicalForm: "connection"] { named.insert(value.lowercased()) }
        var out = HTTPHeaders()
        for (name, value) in headers where !named.contains(name.lowercased()) {
            out.add(name: name, value: value)
        }
        return out
    }
}
