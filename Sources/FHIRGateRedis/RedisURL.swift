/// `redis://[[user]:password@]host[:port][/db]` or `rediss://…` (TLS).
public struct RedisURL: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var password: String?
    public var user: String?
    public var database: Int
    public var tls: Bool

    public init?(_ text: String) {
        var rest: Substring
        if text.hasPrefix("redis://") { tls = false; rest = text.dropFirst(8) }
        else if text.hasPrefix("rediss://") { tls = true; rest = text.dropFirst(9) }
        else { return nil }
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let u = credentials[..<colon]
                user = u.isEmpty ? nil : String(u)
                password = String(credentials[credentials.index(after: colon)...])
            } else {
                user = nil
                password = String(credentials)
            }
        } else {
            user = nil
            password = nil
        }
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let db = rest[rest.index(after: slash)...]
            if !db.isEmpty { guard let d = Int(db), d >= 0 else { return nil }; database = d }
            rest = rest[..<slash]
        }
        self.database = database
        if let colon = rest.lastIndex(of: ":") {
            guard let p = Int(rest[rest.index(after: colon)...]), (1...65535).contains(p) else { return nil }
            port = p
            host = String(rest[..<colon])
        } else {
            port = 6379
            host = String(rest)
        }
        guard !host.isEmpty else { return nil }
    }
}
