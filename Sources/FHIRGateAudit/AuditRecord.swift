import FHIRGateCore

/// One audit record: exactly one per request the gateway answered. Field names are a
/// public interface (ops scripts parse them): extend, never rename.
///
/// Never carries a token (only `token_hash`) or a body. The query is stored with
/// secrets masked.
public struct AuditRecord: Sendable, Equatable {
    public var time: String
    public var requestID: String
    public var route: String?
    public var clientIP: String?
    public var tlsVersion: String?
    /// `1.1`, or `2` for a request that came on an HTTP/2 stream.
    public var httpVersion: String?
    public var method: String
    public var path: String
    public var query: String?
    public var interaction: String?
    public var resourceType: String?
    public var resourceID: String?
    public var compartmentPatient: String?
    public var issuer: String?
    public var clientID: String?
    public var subject: String?
    public var fhirUser: String?
    public var patient: String?
    public var scopes: String?
    public var tokenHash: String?
    /// `allow`, `deny`, `narrowed`, `would_deny`, or `error` for protocol-level failures.
    public var decision: String
    public var reason: String?
    public var policyRule: String?
    public var policyHash: String?
    /// Report-only policy rules (or a report-only policy) that would have denied this
    /// request, comma-separated ids; the response was not changed.
    public var wouldDeny: String?
    public var status: Int
    public var upstreamStatus: Int?
    public var bytesIn: Int
    public var bytesOut: Int
    public var durationMS: Double
    public var upstreamDurationMS: Double?
    /// The rate limiter's verdict: `source:allow|deny[:limit:r=remaining][:revoked]`.
    public var rateLimit: String?

    public init(time: String, requestID: String, method: String, path: String, decision: String, status: Int) {
        self.time = time
        self.requestID = requestID
        self.method = method
        self.path = path
        self.decision = decision
        self.status = status
        bytesIn = 0
        bytesOut = 0
        durationMS = 0
    }

    /// Query parameter names whose values never reach the audit log.
    public static let secretParameters: Set<String> = ["access_token", "client_secret", "refresh_token", "id_token", "password", "client_assertion"]

    /// The query text with secret values replaced by `***`.
    public static func maskedQuery(_ items: [RequestTarget.QueryItem]) -> String? {
        guard !items.isEmpty else { return nil }
        return items.map { item in
            let name = PercentEncoding.encode(item.name, inPath: false)
            return name + "=" + (secretParameters.contains(item.name) ? "***" : PercentEncoding.encode(item.value, inPath: false))
        }.joined(separator: "&")
    }

    /// The record as one JSON line (no trailing newline), keys in a fixed order.
    public func jsonLine(previousHash: String?) -> String {
        var w = JSONObjectWriter()
        w.add("time", time)
        w.add("request_id", requestID)
        w.add("route", route)
        w.add("client_ip", clientIP)
        w.add("tls_version", tlsVersion)
        w.add("http_version", httpVersion)
        w.add("method", method)
        w.add("path", path)
        w.add("query", query)
        w.add("interaction", interaction)
        w.add("resource_type", resourceType)
        w.add("resource_id", resourceID)
        w.add("compartment_patient", compartmentPatient)
        w.add("issuer", issuer)
        w.add("client_id", clientID)
        w.add("sub", subject)
        w.add("fhir_user", fhirUser)
        w.add("patient", patient)
        w.add("scopes", scopes)
        w.add("token_hash", tokenHash)
        w.add("decision", decision)
        w.add("reason", reason)
        w.add("policy_rule", policyRule)
        w.add("policy_hash", policyHash)
        w.add("would_deny", wouldDeny)
        w.add("status", status)
        w.add("upstream_status", upstreamStatus)
        w.add("bytes_in", bytesIn)
        w.add("bytes_out", bytesOut)
        w.add("duration_ms", durationMS)
        w.add("upstream_duration_ms", upstreamDurationMS)
        w.add("rate_limit", rateLimit)
        w.add("prev_hash", previousHash)
        return w.finish()
    }
}

/// Builds a flat JSON object; nil values are left out. Writes UTF-8 bytes into one
/// growing buffer (one record per request goes through here on the audit thread).
struct JSONObjectWriter {
    private var bytes: [UInt8] = [0x7B]

    init() {
        bytes.reserveCapacity(768)
    }

    private mutating func key(_ k: StaticString) {
        if bytes.count > 1 { bytes.append(0x2C) }
        bytes.append(0x22)
        k.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(0x22)
        bytes.append(0x3A)
    }

    mutating func add(_ k: StaticString, _ v: String?) {
        guard let v else { return }
        key(k)
        bytes.append(0x22)
        JSONText.appendEscaped(v, to: &bytes)
        bytes.append(0x22)
    }

    mutating func add(_ k: StaticString, _ v: Int?) {
        guard let v else { return }
        key(k)
        bytes.append(contentsOf: String(v).utf8)
    }

    mutating func add(_ k: StaticString, _ v: Double?) {
        guard let v else { return }
        key(k)
        bytes.append(contentsOf: String(Double(Int(v * 1000)) / 1000).utf8)
    }

    mutating func finish() -> String {
        bytes.append(0x7D)
        return String(decoding: bytes, as: UTF8.self)
    }
}
