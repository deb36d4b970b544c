import FHIRGateAudit
import FHIRGateCore
import Foundation
import NIOCore
import NIOHTTP1

/// Everything known about one request as it passes the phases. Each phase reads what
/// the earlier ones set and adds its own part; the audit phase turns it into a record.
struct RequestContext: Sendable {
    let requestID: String
    let started: ContinuousClock.Instant
    let receivedAt: Date
    let clientIP: String?
    let tlsVersion: String?
    let head: HTTPRequestHead
    let body: ByteBuffer

    /// The request came on an HTTP/2 stream (ALPN h2), decoded by NIOHTTP2's codec.
    var viaHTTP2 = false
    var method: HTTPMethodName?
    var target: RequestTarget?
    var route: RouteRuntime?
    var fhirSegments: [String] = []
    /// `_search` form parameters (kept apart from the query to rebuild the upstream body).
    var formItems: [RequestTarget.QueryItem]?
    var request: FHIRRequest?
    var token: AccessToken?
    var decision: PolicyDecision?
    var upstreamStatus: Int?
    var upstreamDuration: Duration?
    var status = 0
    var bytesOut = 0
    var failureReason: String?
    var rateLimit: RateLimitResult?
    /// The `_fhirgate_page` signature the request carried (removed from the target).
    var pageSignature: String?
    /// The entity tag of the version the write pre-check found (sent as `If-Match`).
    var precheckedVersion: String?
    /// An absolute upstream URL taken from a job record (Bulk status and files) instead
    /// of one built from the request.
    var upstreamURL: String?
    /// The Bulk Data job a status or file request is about, once ownership is checked.
    var bulkJob: BulkExportJob?
    /// The concurrent-job slot a Bulk kick-off reserved (becomes the job id).
    var bulkSlot: String?

    /// Interactions whose answers are Bundles with links the gateway must rewrite.
    var returnsBundle: Bool {
        guard let request else { return false }
        switch request.interaction {
        case .searchType, .searchSystem, .searchCompartment, .historyType, .historySystem, .historyInstance, .pageContinuation,
             .batchOrTransaction:
            return true
        case .operationInstance, .operationType, .operationSystem:
            return request.operation == "everything"
        default:
            return false
        }
    }

    /// Whether the response body must be read by the gateway (guard or link rewriting).
    var responseIsProcessed: Bool { decision?.responseCheck != nil || returnsBundle || decision?.trialSecurityLabels.isEmpty == false }

    var isHead: Bool { head.method == .HEAD }

    /// The audit record for this request (no token, no body).
    func auditRecord(now: ContinuousClock.Instant) -> AuditRecord {
        var r = AuditRecord(time: Self.timestamp(receivedAt), requestID: requestID, method: head.method.rawValue,
                            path: target.map { "/" + $0.segments.joined(separator: "/") } ?? String(head.uri.prefix { $0 != "?" }.prefix(512)),
                            decision: decision?.auditDecision ?? (failureReason == nil ? "allow" : "deny"), status: status)
        r.route = route?.settings.name
        r.clientIP = clientIP
        r.tlsVersion = tlsVersion
        r.httpVersion = viaHTTP2 ? "2" : "1.1"
        r.query = target.flatMap { AuditRecord.maskedQuery($0.query) }
        r.interaction = request?.interaction.rawValue
        r.resourceType = request?.resourceType
        r.resourceID = request?.id
        r.compartmentPatient = request?.compartment?.id
        if let token {
            r.issuer = token.issuer
            r.clientID = token.clientID
            r.subject = token.subject
            r.fhirUser = token.fhirUser
            r.patient = token.patient
            r.scopes = token.scopes.raw.joined(separator: " ")
            r.tokenHash = token.tokenHash
        }
        r.reason = failureReason ?? decision?.reason
        r.policyHash = route?.policy?.contentHash
        if let d = decision {
            if !d.wouldDeny.isEmpty { r.wouldDeny = d.wouldDeny.joined(separator: ",") }
            r.policyRule = d.denyingRule ?? (d.matchedRules.isEmpty ? nil : d.matchedRules.joined(separator: ","))
        }
        r.upstreamStatus = upstreamStatus
        r.bytesIn = body.readableBytes
        r.bytesOut = bytesOut
        r.durationMS = Self.milliseconds(started.duration(to: now))
        r.upstreamDurationMS = upstreamDuration.map(Self.milliseconds)
        r.rateLimit = rateLimit?.auditText
        return r
    }

    static func milliseconds(_ d: Duration) -> Double {
        Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    }

    /// UTC with milliseconds, e.g. `2026-11-29T04:14:49.123Z`.
    static func timestamp(_ date: Date) -> String {
        UTCTime.iso8601(secondsSince1970: date.timeIntervalSince1970)
    }
}
