/// What the gateway knows about the caller after the token was verified. Everything
/// authorization needs; never the token itself (only a short hash for correlation).
public struct AccessToken: Sendable, Equatable {
    public var issuer: String
    public var subject: String?
    public var clientID: String?
    public var scopes: GrantedScopes
    /// The launch-context patient (`patient` claim by default).
    public var patient: String?
    public var fhirUser: String?
    public var encounter: String?
    public var tokenID: String?
    /// Seconds since 1970.
    public var expiresAt: Double
    /// First 16 hex digits of SHA-256 of the token, for audit correlation.
    public var tokenHash: String

    public init(issuer: String, subject: String?, clientID: String?, scopes: GrantedScopes, patient: String?,
                fhirUser: String? = nil, encounter: String? = nil, tokenID: String? = nil, expiresAt: Double, tokenHash: String) {
        self.issuer = issuer
        self.subject = subject
        self.clientID = clientID
        self.scopes = scopes
        self.patient = patient
        self.fhirUser = fhirUser
        self.encounter = encounter
        self.tokenID = tokenID
        self.expiresAt = expiresAt
        self.tokenHash = tokenHash
    }
}
