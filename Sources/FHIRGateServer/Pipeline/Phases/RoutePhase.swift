import FHIRGateCore

/// Phase 2: picks the route whose public base path prefixes the request path (the
/// longest one; the Host header breaks ties between routes with the same path).
struct RoutePhase {
    let routes: [RouteRuntime]

    func run(_ ctx: inout RequestContext) throws(GatewayError) {
        guard let target = ctx.target else { throw .internalError(reason: "route_before_validate") }
        let host = ctx.head.headers.first(name: "host").map { h -> String in
            if h.hasPrefix("[") { return String(h.prefix { $0 != "]" }.dropFirst()) }
            return String(h.prefix { $0 != ":" })
        }
        var best: RouteRuntime?
        for route in routes {
            let prefix = route.settings.basePath
            guard target.segments.starts(with: prefix) else { continue }
            if let current = best {
                if prefix.count > current.settings.basePath.count { best = route }
                else if prefix.count == current.settings.basePath.count, route.settings.host == host { best = route }
            } else {
                best = route
            }
        }
        guard let route = best else { throw .notFound(reason: "no_route") }
        ctx.route = route
        ctx.fhirSegments = Array(target.segments.dropFirst(route.settings.basePath.count))
    }
}
