import NIOCore
import NIOHTTP1

/// A request to a route's upstream: the origin is the client's, the rest is here.
struct UpstreamRequest: Sendable {
    var method: HTTPMethod = .GET
    /// An absolute URL on the client's origin (checked: the gateway never goes elsewhere).
    var url: String
    var headers = HTTPHeaders()
    var body: ByteBuffer?

    init(url: String, method: HTTPMethod = .GET) {
        self.url = url
        self.method = method
    }
}

/// The upstream's answer: its head, and its body as it arrives (with backpressure: the
/// connection reads on only as the body is consumed).
struct UpstreamResponse: Sendable {
    let status: HTTPResponseStatus
    let headers: HTTPHeaders
    let body: UpstreamBody
}

/// Why an upstream request failed; details stay in the gateway (clients see 502/504).
enum UpstreamError: Error, Equatable {
    /// No connection within the route's connect timeout.
    case connectTimeout
    /// No response head before the deadline, or the body stalled for the read timeout.
    case timeout
    /// No connection could be made (refused, no route, name not resolved).
    case unreachable
    /// The connection was reset or closed before the response ended.
    case connectionFailed
    /// The URL is not on the route's upstream origin.
    case foreignOrigin
    /// The client was shut down (a reload retired the route).
    case shutDown
}
