import FHIRGateCore
import NIOCore
import NIOHTTP1

/// What the connection writes back: a head and a body that is either in memory or
/// streamed from the upstream with backpressure.
struct GatewayResponse: Sendable {
    enum Body: Sendable {
        case empty
        case bytes(ByteBuffer)
        case stream(UpstreamBody)
    }

    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    var body: Body

    /// The one place a `GatewayError` becomes an HTTP response.
    static func error(_ error: GatewayError, realm: String, requestID: String) -> GatewayResponse {
        let json = error.operationOutcome.json
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/fhir+json")
        headers.add(name: "Content-Length", value: String(json.utf8.count))
        headers.add(name: "X-Request-ID", value: requestID)
        if let challenge = error.wwwAuthenticate(realm: realm) { headers.add(name: "WWW-Authenticate", value: challenge) }
        if case .throttled(let seconds, _) = error { headers.add(name: "Retry-After", value: String(max(1, seconds))) }
        return GatewayResponse(status: .init(statusCode: error.status), headers: headers, body: .bytes(ByteBuffer(string: json)))
    }
}
