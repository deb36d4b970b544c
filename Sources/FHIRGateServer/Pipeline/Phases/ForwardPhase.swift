import FHIRGateCore
import Foundation
import NIOCore
import NIOHTTP1

/// Phase 6: sends the request upstream, rebuilt from the parsed form (never the raw
/// target), through the route's connection pool, and returns the streaming response.
struct ForwardPhase {
    /// Under a response check the upstream must send what the guard reads: `_elements`
    /// is widened by it; `_summary=true` and `_summary=text` (which leave out compartment
    /// references and categories) are not passed on, so the resource comes whole, which
    /// FHIR allows a server to do.
    static func shapedForCheck(_ items: [RequestTarget.QueryItem], request: FHIRRequest, check: ResponseCheck?) -> [RequestTarget.QueryItem] {
        guard let check, items.contains(where: { $0.name == "_elements" || $0.name == "_summary" }) else { return items }
        return items.compactMap { item in
            switch item.name {
            case "_elements": request.resourceType.map { .init(name: "_elements", value: check.elementsValue(item.value, type: $0)) } ?? item
            case "_summary" where item.value == "true" || item.value == "text": nil
            default: item
            }
        }
    }

    /// When the gateway is the upstream's only client identity (`strip`, `replace`), a
    /// client's cookies are a credential too (an EHR session would act as someone else).
    static let replacedRequestHeadersAndCookies = replacedRequestHeaders + ["cookie"]

    /// Conditions and ranges of a read the gateway must not pass on when it checks the answer.
    static let partialReadHeaders = ["if-none-match", "if-modified-since", "if-match", "if-unmodified-since", "if-range", "range"]

    /// Request headers the gateway sets itself or must not pass on.
    static let replacedRequestHeaders = [
        "host", "content-length", "authorization", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded",
        "x-request-id", "if-none-exist", "x-real-ip",
        // The gateway met the client's expectation itself; the body goes upstream whole.
        "expect",
    ]

    func run(_ ctx: inout RequestContext) async throws(GatewayError) -> UpstreamResponse {
        guard let route = ctx.route, let request = ctx.request, let target = ctx.target else {
            throw .internalError(reason: "forward_before_classify")
        }
        let decision = ctx.decision
        let checked = ctx.responseIsProcessed

        // The upstream target: the route's upstream base + the re-encoded FHIR path +
        // the parsed query + the narrowing the decision added.
        var url = route.settings.upstream
        if let fixed = ctx.upstreamURL {
            url = fixed
        } else {
            for segment in request.pathSegments { url += "/" + PercentEncoding.encode(segment, inPath: true) }
            let queryItems = Self.shapedForCheck(decision?.upstreamQuery ?? (target.query + (ctx.formItems == nil ? (decision?.narrowing ?? []) : [])),
                                                         request: request, check: decision?.responseCheck)
            if !queryItems.isEmpty { url += "?" + PercentEncoding.query(queryItems) }
        }

        // A HEAD whose answer must be checked is a GET upstream: the guard decides on the
        // body, and the client gets the headers of what it decided (another patient's
        // resource answers HEAD with the same 404 as GET).
        var upstream = UpstreamRequest(url: url, method: ctx.isHead && decision?.responseCheck != nil ? .GET : ctx.head.method)
        var headers = HopByHop.strip(ctx.head.headers, alsoDropping: route.settings.upstreamAuthorization == .pass
                                         ? Self.replacedRequestHeaders : Self.replacedRequestHeadersAndCookies)
        Self.addIdentity(to: &headers, ctx, route: route)
        if request.interaction == .conditionalCreate {
            headers.add(name: "If-None-Exist", value: PercentEncoding.query(request.conditionalCriteria.map { .init(name: $0.rawName, value: $0.value) }))
        }
        if checked {
            // The guard has to read the response: ask for plain FHIR JSON.
            if let accept = ctx.head.headers.first(name: "accept")?.lowercased(), !Self.acceptsJSON(accept) {
                throw .notAcceptable(reason: "guarded_response_needs_json")
            }
            // `_format` overrides Accept upstream: anything but JSON (xml, html, ttl) would
            // come back unreadable to the guard.
            if let format = (target.query + (ctx.formItems ?? [])).first(where: { $0.name == "_format" })?.value.lowercased(), !Self.isJSONFormat(format) {
                throw .notAcceptable(reason: "guarded_response_needs_json")
            }
            headers.replaceOrAdd(name: "Accept", value: "application/fhir+json")
            headers.replaceOrAdd(name: "Accept-Encoding", value: "identity")
        }
        if decision?.responseCheck != nil, request.method == .GET || request.method == .HEAD,
           headers.contains(where: { name, _ in Self.partialReadHeaders.contains { ASCIICase.equal($0, name) } }) {
            // A conditional or partial read lets the upstream answer about a resource
            // without sending it (304, 412, 206): nothing the guard can check, and a 304
            // would tell that another patient's resource exists. Read whole, checked; the
            // guard phase answers `If-None-Match` itself.
            headers = HopByHop.strip(headers, alsoDropping: Self.partialReadHeaders)
        }
        if let version = ctx.precheckedVersion, request.interaction.isWrite, !headers.contains(name: "if-match") {
            // The version the write pre-check saw: if it changed since, the upstream refuses
            // (412) instead of applying the write to content nobody checked.
            headers.add(name: "If-Match", value: version)
        }
        upstream.headers = headers

        if let form = ctx.formItems {
            let text = PercentEncoding.query(Self.shapedForCheck(form + (decision?.narrowing ?? []), request: request, check: decision?.responseCheck))
            upstream.body = ByteBuffer(string: text)
            upstream.headers.replaceOrAdd(name: "Content-Type", value: "application/x-www-form-urlencoded")
        } else if ctx.body.readableBytes > 0 {
            upstream.body = ctx.body
        }

        let started = ContinuousClock.now
        do {
            let response = try await route.upstream.execute(upstream, timeout: .milliseconds(Int64(route.settings.readTimeoutSeconds * 1000)))
            ctx.upstreamDuration = started.duration(to: .now)
            ctx.upstreamStatus = Int(response.status.code)
            return response
        } catch {
            ctx.upstreamDuration = started.duration(to: .now)
            throw Self.classify(error)
        }
    }

    /// Who is asking, as the upstream sees it: the Authorization the route's mode calls
    /// for, X-Forwarded-*, and the request id.
    static func addIdentity(to headers: inout HTTPHeaders, _ ctx: RequestContext, route: RouteRuntime) {
        switch route.settings.upstreamAuthorization {
        case .pass:
            if let auth = ctx.head.headers.first(name: "authorization") { headers.add(name: "Authorization", value: auth) }
        case .strip:
            break
        case .replace:
            if let credential = route.upstreamCredential { headers.add(name: "Authorization", value: credential) }
        }
        let previous = ctx.head.headers.first(name: "x-forwarded-for")
        headers.add(name: "X-Forwarded-For", value: [previous, ctx.clientIP].compactMap { $0 }.joined(separator: ", "))
        headers.add(name: "X-Forwarded-Proto", value: ctx.tlsVersion == nil ? "http" : "https")
        if let host = ctx.head.headers.first(name: "host") { headers.add(name: "X-Forwarded-Host", value: host) }
        headers.add(name: "X-Request-ID", value: ctx.requestID)
    }

    /// A `_format` value naming JSON: `json`, `application/json`, `application/fhir+json`
    /// (parameters such as `;fhirVersion=4.0` allowed; `+` may arrive as a space).
    static func isJSONFormat(_ format: String) -> Bool {
        let type = format.prefix { $0 != ";" }.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: " ", with: "+")
        return ["json", "application/json", "application/fhir+json"].contains(type)
    }

    static func acceptsJSON(_ accept: String) -> Bool {
        accept.contains("json") || accept.contains("*/*") || accept.contains("application/*")
    }

    /// Upstream failures, without their details (hostnames stay out of responses).
    static func classify(_ error: any Error) -> GatewayError {
        if let e = error as? UpstreamError {
            switch e {
            case .timeout: return .upstreamTimeout(reason: "upstream_timeout")
            case .connectTimeout: return .upstreamTimeout(reason: "upstream_connect_timeout")
            case .foreignOrigin: return .upstreamUnavailable(reason: "upstream_foreign_origin")
            case .unreachable: return .upstreamUnavailable(reason: "upstream_unreachable")
            case .connectionFailed, .shutDown: return .upstreamUnavailable(reason: "upstream_error")
            }
        }
        return .upstreamUnavailable(reason: "upstream_unreachable")
    }
}
