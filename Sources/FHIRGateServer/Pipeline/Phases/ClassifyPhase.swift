import FHIRGateCore
import NIOCore

/// Phase 3: the FHIR interaction, from the parsed target (and a `_search` form body).
struct ClassifyPhase {
    let classifier = RequestClassifier()

    func run(_ ctx: inout RequestContext) throws(GatewayError) {
        guard let method = ctx.method, let target = ctx.target else { throw .internalError(reason: "classify_before_validate") }
        let headers = ctx.head.headers
        var form: [RequestTarget.QueryItem]?
        if method == .POST, ctx.fhirSegments.last == "_search" {
            let contentType = headers.first(name: "content-type")?.lowercased() ?? ""
            if contentType.hasPrefix("application/x-www-form-urlencoded") {
                form = try RequestTarget.parseQuery(ctx.body.readableBytesView)
            }
        }
        ctx.formItems = form
        let ifNoneExist = headers["if-none-exist"]
        guard ifNoneExist.count <= 1 else { throw .malformedRequest(reason: "if_none_exist_count") }
        ctx.request = try classifier.classify(method: method, segments: ctx.fhirSegments, query: target.query,
                                              ifNoneExist: ifNoneExist.first, formBody: form)
    }
}
