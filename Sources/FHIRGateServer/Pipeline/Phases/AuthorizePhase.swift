import FHIRGateCore
import NIOCore

/// Phase 5: scopes and patient context against the interaction (and the body of a
/// write or Bundle), then the route's policy. Sets the decision the audit record carries.
struct AuthorizePhase {
    let signer: PageLinkSigner

    func run(_ ctx: inout RequestContext) throws(GatewayError) {
        guard var request = ctx.request, let route = ctx.route, let target = ctx.target else { throw .internalError(reason: "authorize_before_classify") }
        if let signature = ctx.pageSignature {
            // A page link is only good for the holder it was issued to: anyone else gets
            // what a link that never existed gets.
            let canonical = PageLinkSigner.canonical(segments: ctx.fhirSegments, query: target.query)
            guard signer.isValid(signature, binding: PageLinkSigner.binding(ctx.token), target: canonical) else {
                throw .notFound(reason: "page_link_invalid")
            }
            request.isSignedPageLink = true
            ctx.request = request
        }
        // Scopes, body, then the policy, which can only narrow what the scopes allowed.
        let decision = route.evaluator.decide(request, body: request.bodyIsChecked ? Array(ctx.body.readableBytesView) : [],
                                              token: ctx.token).final
        ctx.decision = decision
        if case .deny(let error) = decision.effect { throw error }
    }
}
