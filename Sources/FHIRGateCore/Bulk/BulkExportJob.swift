/// A Bulk Data export the gateway kicked off for one client: who owns it, what it may
/// contain, and where the upstream keeps it. Clients only ever see the gateway's URLs
/// (`[base]/$export-status/{id}`, `[base]/$export-file/{id}/{n}`); the job record maps
/// them to the upstream's. Stored in Redis (or in process) as JSON.
public struct BulkExportJob: Codable, Sendable, Equatable {
    public static let statusSegment = "$export-status"
    public static let fileSegment = "$export-file"
    /// The file name under which the gateway serves its note about withheld types.
    public static let withheldFile = "withheld"

    /// Unguessable: 24 random bytes, base64url (192 bits).
    public var id: String
    public var issuer: String
    public var clientID: String?
    public var subject: String?
    /// Types the export may contain; nil when a wildcard scope allowed every type.
    public var types: [String]?
    /// The public kick-off URL (the manifest's `request`).
    public var kickoffURL: String
    public var upstreamStatusURL: String
    /// Upstream file URLs by the index in the gateway's file URLs (filled from the manifest).
    public var files: [String] = []
    /// Types the upstream returned that the token does not cover (dropped from the manifest).
    public var withheld: [String] = []
    /// Seconds since 1970.
    public var created: Double
    public var expires: Double

    public init(id: String, issuer: String, clientID: String?, subject: String?, types: [String]?, kickoffURL: String,
                upstreamStatusURL: String, created: Double, expires: Double) {
        self.id = id
        self.issuer = issuer
        self.clientID = clientID
        self.subject = subject
        self.types = types
        self.kickoffURL = kickoffURL
        self.upstreamStatusURL = upstreamStatusURL
        self.created = created
        self.expires = expires
    }

    public static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<24).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Base64URL.encode(bytes)
    }

    public static func isValidID(_ s: String) -> Bool {
        s.utf8.count == 32 && s.utf8.allSatisfy { Base64URL.isAlphabet($0) }
    }

    /// The owner key for concurrency limits: one client of one issuer.
    public var ownerKey: String { Self.ownerKey(issuer: issuer, clientID: clientID) }

    public static func ownerKey(issuer: String, clientID: String?) -> String { issuer + "|" + (clientID ?? "-") }

    /// Whether `token` may poll, cancel or download this job: the same issuer, client and
    /// subject that started it (anyone else gets the 404 of a job that does not exist),
    /// and scopes that still cover every type it holds (Bulk Data v2: protected like the
    /// kick-off).
    public func access(by token: AccessToken, contexts: Set<SMARTScope.Context>) -> GatewayError? {
        guard token.issuer == issuer, token.clientID == clientID, token.subject == subject else {
            return .notFound(reason: "bulk_job_not_owner")
        }
        let readable = token.scopes.scopes.filter { contexts.contains($0.context) && $0.permissions.contains(.read) && $0.constraints.isEmpty }
        if readable.contains(where: { $0.resourceType == nil }) { return nil }
        guard let types, types.allSatisfy({ t in readable.contains { $0.resourceType == t } }) else {
            return .insufficientScope(reason: "bulk_scope_no_longer_covers_job")
        }
        return nil
    }
}

/// base64url without padding (RFC 4648 §5).
public enum Base64URL {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var i = 0
        while i + 2 < bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], alphabet[Int(n & 63)]]
            i += 3
        }
        if i < bytes.count {
            let rest = bytes.count - i
            let n = UInt32(bytes[i]) << 16 | (rest == 2 ? UInt32(bytes[i + 1]) << 8 : 0)
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)]]
            if rest == 2 { out.append(alphabet[Int(n >> 6 & 63)]) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func isAlphabet(_ c: UInt8) -> Bool {
        (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x2D || c == 0x5F
    }
}
