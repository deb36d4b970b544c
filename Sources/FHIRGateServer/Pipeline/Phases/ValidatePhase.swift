import FHIRGateCore
import NIOHTTP1

/// Phase 1: HTTP-level checks and the one strict parse of the request target.
///
/// Refuses what two HTTP implementations could read differently: anything but HTTP/1.1,
/// method overrides, a missing or repeated Host, repeated Authorization or
/// Content-Length, and any target `RequestTarget.parse` refuses.
struct ValidatePhase {
    static let methodOverrideHeaders = ["x-http-method-override", "x-http-method", "x-method-override"]

    func run(_ ctx: inout RequestContext) throws(GatewayError) {
        // HTTP/1.1, or HTTP/2 from NIOHTTP2's codec: 1.0's keep-alive and body rules are
        // where front and back ends disagree.
        let version = ctx.viaHTTP2 ? HTTPVersion.http2 : HTTPVersion.http1_1
        guard ctx.head.version == version else { throw .malformedRequest(reason: "http_version_unsupported") }
        // Origin form only: absolute, authority and asterisk forms are for proxies and OPTIONS *.
        guard ctx.head.uri.hasPrefix("/") else { throw .malformedRequest(reason: "target_form") }
        guard let method = HTTPMethodName(rawValue: ctx.head.method.rawValue) else {
            throw .methodNotAllowed(reason: "method_unsupported")
        }
        ctx.method = method
        let headers = ctx.head.headers
        guard headers[canonicalForm: "host"].count == 1 else { throw .malformedRequest(reason: "host_header_count") }
        for name in Self.methodOverrideHeaders where headers.contains(name: name) {
            throw .malformedRequest(reason: "method_override_header")
        }
        if headers["authorization"].count > 1 { throw .invalidAuthorizationHeader(reason: "authorization_header_count") }
        if headers["content-length"].count > 1 { throw .malformedRequest(reason: "content_length_count") }
        ctx.target = try RequestTarget.parse(ctx.head.uri)
    }
}
