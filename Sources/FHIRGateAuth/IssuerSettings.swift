/// One trusted authorization server, from the config's `auth.issuers`.
public struct IssuerSettings: Sendable, Equatable {
    public enum KeySource: Sendable, Equatable {
        case jwksURI(String)
        case jwksFile(String)
        /// Opaque tokens only: no signing keys, every token is introspected.
        case introspectionOnly
    }

    /// Compared exactly with the token's `iss`.
    public var issuer: String
    public var keySource: KeySource
    /// Signature algorithms accepted from this issuer.
    public var algorithms: Set<String>
    /// The algorithm of RSA keys published without `alg` (never taken from a token).
    public var rsaAlgorithm: String
    public var patientClaim: String
    public var fhirUserClaim: String
    public var encounterClaim: String
    /// Require RFC 9068 `typ: at+jwt`.
    public var requireATJWT: Bool
    /// Upper bound on `exp - iat`, bounding how long a revoked token stays usable.
    public var maxLifetimeSeconds: Double?
    /// Background JWKS refresh: `Cache-Control: max-age` bounded to [minimum, maximum];
    /// `keysRefreshSeconds` when the server sends none.
    public var keysRefreshSeconds: Double = 300
    public var keysMinimumRefreshSeconds: Double = 60
    public var keysMaximumRefreshSeconds: Double = 86400
    /// How long the last good keys stay usable while the server is unreachable.
    public var keysMaxStaleSeconds: Double = 86400
    /// RFC 7662 introspection for this issuer's opaque tokens.
    public var introspection: IntrospectionClient.Settings?

    public static let defaultAlgorithms: Set<String> = ["RS256", "RS384", "ES256", "ES384"]

    public init(issuer: String, keySource: KeySource, algorithms: Set<String> = IssuerSettings.defaultAlgorithms,
                rsaAlgorithm: String = "RS256", patientClaim: String = "patient", fhirUserClaim: String = "fhirUser",
                encounterClaim: String = "encounter", requireATJWT: Bool = false, maxLifetimeSeconds: Double? = nil,
                introspection: IntrospectionClient.Settings? = nil) {
        self.introspection = introspection
        self.issuer = issuer
        self.keySource = keySource
        self.algorithms = algorithms
        self.rsaAlgorithm = rsaAlgorithm
        self.patientClaim = patientClaim
        self.fhirUserClaim = fhirUserClaim
        self.encounterClaim = encounterClaim
        self.requireATJWT = requireATJWT
        self.maxLifetimeSeconds = maxLifetimeSeconds
    }
}
