import FHIRGateCore
import NIOCore
import NIOHTTP1

/// Phase 7: prepares the upstream response for the client. Responses that need no check
/// stream through untouched (hop-by-hop headers dropped, upstream URLs rewritten to the
/// public base); responses the decision marked for checking are buffered up to a limit,
/// checked, and hidden (404), trimmed, or refused (502) — never passed unchecked.
struct ResponseGuardPhase {
    /// Response headers that name the upstream's software and version (as nginx hides
    /// `Server`): internals a client has no use for.
    static let upstreamIdentityHeaders = ["server", "x-powered-by"]

    let maxCheckedBytes: Int
    let signer: PageLinkSigner

    func run(_ ctx: inout RequestContext, upstream: UpstreamResponse) async throws(GatewayError) -> GatewayResponse {
        guard let route = ctx.route else { throw .internalError(reason: "guard_before_route") }
        if upstream.status.code >= 500 { return Self.upstreamFailure(&ctx, upstream, realm: route.realm) }
        if upstream.status == .unauthorized || upstream.status == .proxyAuthenticationRequired, route.settings.upstreamAuthorization != .pass {
            // The upstream refused the gateway's own credential (or none): the client's
            // token was good, so a 401 would send it to re-authorize for nothing.
            return Self.upstreamFailure(&ctx, upstream, realm: route.realm)
        }
        var headers = HopByHop.strip(upstream.headers, alsoDropping: Self.upstreamIdentityHeaders)
        Self.rewriteLocations(&headers, route: route)
        headers.replaceOrAdd(name: "X-Request-ID", value: ctx.requestID)

        let check = ctx.decision?.responseCheck
        guard ctx.responseIsProcessed, !ctx.isHead || check != nil, (200..<300).contains(Int(upstream.status.code)) else {
            if check != nil, !(200..<300).contains(Int(upstream.status.code)) {
                // A refused, missing or deleted resource all look alike under a check: the
                // upstream's 403 must not tell that another patient's resource exists.
                if upstream.status == .notFound || upstream.status == .gone || upstream.status == .forbidden {
                    throw .notFound(reason: "upstream_not_found")
                }
            }
            return GatewayResponse(status: upstream.status, headers: headers, body: ctx.isHead ? .empty : .stream(upstream.body))
        }

        let body: ByteBuffer
        do {
            body = try await upstream.body.collect(upTo: maxCheckedBytes)
        } catch {
            throw .upstreamUnavailable(reason: error is NIOTooManyBytesError ? "guard_buffer_exceeded" : "upstream_body_error")
        }
        // Report-only data rules: count what would have been withheld, change nothing.
        if let trial = ctx.decision?.trialSecurityLabels, !trial.isEmpty {
            for (id, labels) in trial.sorted(by: { $0.key < $1.key })
            where route.responseGuard.countLabeled(Array(body.readableBytesView), labels: labels) > 0 {
                ctx.decision?.wouldDeny.append(id)
            }
        }
        if body.readableBytes == 0, ctx.request?.interaction.isWrite == true {
            // A write answered without content (`Prefer: return=minimal`, 204): nothing to show.
            return GatewayResponse(status: upstream.status, headers: headers, body: .empty)
        }
        // Nothing to check and no link to rewrite: passed unread. (No check and not a
        // Bundle; or a Bundle whose text cannot name the upstream or the public base,
        // which `JSONTextScan` answers from the bytes, several times faster than a read.)
        if check == nil, !ctx.returnsBundle || !body.withUnsafeReadableBytes({ JSONTextScan.mayContain(route.linkBases, in: $0) }) {
            return GatewayResponse(status: upstream.status, headers: headers, body: .bytes(body))
        }
        // Links in Bundles point at the upstream: public URLs instead, paging links signed
        // for this token's holder.
        let binding = PageLinkSigner.binding(ctx.token)
        let signer = self.signer
        let rewrite: (String, Bool) -> String? = { url, isPageLink in
            if isPageLink { return signer.publicLink(url, route: route, binding: binding) }
            guard let relative = PageLinkSigner.upstreamRelativeTarget(of: url, route: route) else { return nil }
            return route.settings.baseURL + relative
        }
        switch route.responseGuard.process(Array(body.readableBytesView), check: check, rewriteLink: ctx.returnsBundle ? rewrite : nil) {
        case .pass:
            if check != nil, upstream.status == .ok, let etag = headers.first(name: "etag"),
               let wanted = ctx.head.headers.first(name: "if-none-match"), Self.anyMatches(wanted, etag) {
                // The client's copy is current, and now known to be its to see.
                var notModified = headers
                notModified.remove(name: "content-length")
                notModified.remove(name: "content-type")
                return GatewayResponse(status: .notModified, headers: notModified, body: .empty)
            }
            return GatewayResponse(status: upstream.status, headers: headers, body: .bytes(body))
        case .replace(let bytes, _):
            headers.replaceOrAdd(name: "Content-Length", value: String(bytes.count))
            headers.remove(name: "ETag")
            return GatewayResponse(status: upstream.status, headers: headers, body: .bytes(ByteBuffer(bytes: bytes)))
        case .hide:
            throw .notFound(reason: "guard_hidden")
        case .unverifiable:
            if check == nil {
                // Not a JSON Bundle and nothing to verify: nothing to rewrite either.
                return GatewayResponse(status: upstream.status, headers: headers, body: .bytes(body))
            }
            throw .upstreamUnavailable(reason: "guard_unparseable")
        }
    }

    /// An upstream failure is the gateway's to describe: what the upstream wrote (an
    /// exception's message, an error page) names its internals. The status says what
    /// kind of failure it was (a refused gateway credential is a 502); a 503's numeric
    /// `Retry-After` is kept for the client.
    static func upstreamFailure(_ ctx: inout RequestContext, _ upstream: UpstreamResponse, realm: String) -> GatewayResponse {
        let code = Int(upstream.status.code)
        let reason = "upstream_status_\(code)"
        let error: GatewayError = switch code {
        case 503: .serviceUnavailable(reason: reason)
        case 504: .upstreamTimeout(reason: reason)
        default: .upstreamUnavailable(reason: reason)
        }
        ctx.failureReason = reason
        var response = GatewayResponse.error(error, realm: realm, requestID: ctx.requestID)
        if code == 503, let retry = upstream.headers.first(name: "retry-after"), (1...9).contains(retry.utf8.count),
           retry.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            response.headers.replaceOrAdd(name: "Retry-After", value: retry)
        }
        return response
    }

    /// RFC 9110 §13.1.2: `If-None-Match` (a list, or `*`) against an entity tag, weak comparison.
    static func anyMatches(_ list: String, _ etag: String) -> Bool {
        func opaque(_ tag: Substring) -> Substring {
            let t = tag.trimmingCharacters(in: .whitespaces)
            return Substring(t.hasPrefix("W/") ? t.dropFirst(2) : t[...])
        }
        let have = opaque(etag[...])
        return list.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces) == "*" || opaque($0) == have }
    }

    /// `Location`/`Content-Location` pointing at the upstream become public URLs.
    static func rewriteLocations(_ headers: inout HTTPHeaders, route: RouteRuntime) {
        for name in ["Location", "Content-Location"] {
            guard let value = headers.first(name: name) else { continue }
            for base in route.upstreamBases where value.hasPrefix(base + "/") || value == base {
                headers.replaceOrAdd(name: name, value: route.settings.baseURL + value.dropFirst(base.count))
                break
            }
        }
    }
}
