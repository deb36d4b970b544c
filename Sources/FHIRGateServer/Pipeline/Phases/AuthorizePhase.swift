import FHIRGateCore
import NIOCore

/// Phase 5: scopes and patient context against the interaction (and the body of a
/// write or Bundle). Sets the decision the audit record carries.
struct AuthorizePhase {
    func run(_ ctx: inout RequestContext) throws(GatewayError) {
        guard let request = ctx.request, let route = ctx.route else { throw .internalError(reason: "authorize_before_classify") }
        var decision = route.authorizer.decide(request, token: ctx.token)
        if decision.isAllowed, request.interaction.isWrite {
            decision = route.bodyCheck.check(request, body: Array(ctx.body.readableBytesView), token: ctx.token, decision: decision)
        }
        ctx.decision = decision
        if case .deny(let error) = decision.effect { throw error }
    }
}
