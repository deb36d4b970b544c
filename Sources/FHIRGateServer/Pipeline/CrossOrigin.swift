import NIOHTTP1

/// Cross-origin headers: SMART apps run in browsers, on their own origins. Any origin may
/// call — the bearer token, not a cookie, is the credential, so `*` lets a page do nothing
/// a server could not — and an app's script may read the headers it needs: the version to
/// send back in `If-Match`, where a created resource or an export's status is, how long a
/// throttled or pending request should wait, the request id for support, why a token was
/// refused. (Browsers hide every other response header from scripts.)
enum CrossOrigin {
    static let exposedHeaders = "ETag, Location, Content-Location, Last-Modified, Retry-After, X-Progress, X-Request-ID, WWW-Authenticate"
    static let allowedMethods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
    static let allowedHeaders = "Authorization, Content-Type, Accept, If-Match, If-None-Exist, If-None-Match, If-Modified-Since, Prefer, X-Request-ID"

    /// On every answer the gateway sends (the upstream's own CORS headers are replaced).
    static func apply(to headers: inout HTTPHeaders) {
        headers.replaceOrAdd(name: "Access-Control-Allow-Origin", value: "*")
        headers.replaceOrAdd(name: "Access-Control-Expose-Headers", value: exposedHeaders)
    }

    /// The answer to a preflight (`OPTIONS` with `Access-Control-Request-Method`).
    static func preflightHeaders() -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.add(name: "Access-Control-Allow-Methods", value: allowedMethods)
        headers.add(name: "Access-Control-Allow-Headers", value: allowedHeaders)
        headers.add(name: "Access-Control-Max-Age", value: "600")
        return headers
    }
}
