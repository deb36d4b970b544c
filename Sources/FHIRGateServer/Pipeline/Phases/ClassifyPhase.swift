import FHIRGateCore
import NIOCore

/// Phase 3: the FHIR interaction, from the parsed target (and a `_search` form body).
struct ClassifyPhase {
    let classifier = RequestClassifier()

    func run(_ ctx: inout RequestContext) throws(GatewayError) {
        guard let method = ctx.method, var target = ctx.target else { throw .internalError(reason: "classify_before_validate") }
        // A signed paging link: take the signature out; it is checked once the token is known.
        let signatures = target.query.filter { $0.name == PageLinkSigner.parameter }
        if !signatures.isEmpty {
            guard signatures.count == 1 else { throw .malformedRequest(reason: "duplicate_parameter") }
            ctx.pageSignature = signatures[0].value
            target = RequestTarget(segments: target.segments, query: target.query.filter { $0.name != PageLinkSigner.parameter })
            ctx.target = target
        }
        // FHIR gives these methods no body. A server may still read one (search
        // parameters in a GET body), and what the gateway does not classify it cannot check.
        if ctx.body.readableBytes > 0, method == .GET || method == .HEAD || method == .DELETE {
            throw .malformedRequest(reason: "body_not_expected")
        }
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
