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
        try Self.checkHeaders(ctx.head.headers)
        ctx.target = try RequestTarget.parse(ctx.head.uri)
    }

    /// One pass over the headers, no arrays of values (this runs for every request).
    /// Host: exactly one, a single non-empty value (a comma list is two hosts).
    static func checkHeaders(_ headers: HTTPHeaders) throws(GatewayError) {
        var hosts = 0, authorizations = 0, contentLengths = 0
        for (name, value) in headers {
            switch name.utf8.count {
            case 4 where ASCIICase.equal(name, "host"):
                hosts += 1
                guard value.utf8.contains(where: { $0 != 0x20 && $0 != 0x09 }), !value.utf8.contains(UInt8(ascii: ",")) else {
                    throw .malformedRequest(reason: "host_header_count")
                }
            case 13 where ASCIICase.equal(name, "authorization"):
                authorizations += 1
            case 14 where ASCIICase.equal(name, "content-length"):
                contentLengths += 1
            default:
                if methodOverrideHeaders.contains(where: { ASCIICase.equal($0, name) }) { throw .malformedRequest(reason: "method_override_header") }
            }
        }
        guard hosts == 1 else { throw .malformedRequest(reason: "host_header_count") }
        if authorizations > 1 { throw .invalidAuthorizationHeader(reason: "authorization_header_count") }
        if contentLengths > 1 { throw .malformedRequest(reason: "content_length_count") }
    }
}
