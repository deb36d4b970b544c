/// Scheme, host and port of a route's upstream: every request the route sends goes
/// there and nowhere else.
struct UpstreamOrigin: Sendable, Equatable {
    let useTLS: Bool
    let host: String
    let port: Int
    /// `scheme://authority` as it starts the upstream's URLs.
    let prefix: String
    /// The `Host` header value (the port only when not the scheme's default).
    let hostHeader: String

    init?(url: String) {
        let lower = url.lowercased()
        let scheme: String
        if lower.hasPrefix("https://") { scheme = "https" } else if lower.hasPrefix("http://") { scheme = "http" } else { return nil }
        let rest = url.dropFirst(scheme.count + 3)
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        var host: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty { return nil }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        let defaultPort = scheme == "https" ? 443 : 80
        let port: Int
        if let portText {
            guard let p = Int(portText), (1...65535).contains(p) else { return nil }
            port = p
        } else {
            port = defaultPort
        }
        guard !host.isEmpty else { return nil }
        useTLS = scheme == "https"
        self.host = String(host)
        self.port = port
        prefix = String(url.prefix(scheme.count + 3 + authority.count))
        hostHeader = String(authority.hasPrefix("[") ? "[\(host)]" : host) + (port == defaultPort ? "" : ":\(port)")
    }

    /// The request target (path and query) of a URL on this origin; nil for any other URL.
    func target(of url: String) -> String? {
        guard url.hasPrefix(prefix) else { return nil }
        let rest = url.dropFirst(prefix.count)
        if rest.isEmpty { return "/" }
        if rest.hasPrefix("?") { return "/" + rest }
        return rest.hasPrefix("/") ? String(rest) : nil
    }

    /// A literal IP address gets no SNI name.
    var hostIsAddress: Bool {
        host.contains(":") || host.allSatisfy { $0.isNumber || $0 == "." }
    }
}
