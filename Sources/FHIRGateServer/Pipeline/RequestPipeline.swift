import FHIRGateAudit
import FHIRGateAuth
import FHIRGateCore
import Logging
import NIOCore
import NIOHTTP1

/// The fixed sequence of phases every request passes:
/// validate → route → classify → authenticate → authorize → rate limit → (bulk job,
/// write pre-check) → forward → (bulk job) → guard response,
/// with the audit record written by the connection once the response is sent.
/// Each phase either fills in its part of the context or ends the request with a
/// `GatewayError`, which becomes the client's OperationOutcome in one place.
struct RequestPipeline: Sendable {
    let snapshot: GatewaySnapshot

    let limiter: GatewayRateLimiter
    let signer: PageLinkSigner
    let bulkJobs: any BulkJobStore

    func handle(_ ctx: inout RequestContext) async -> GatewayResponse {
        var response = await run(&ctx)
        for (name, value) in ctx.rateLimit?.headers ?? [] { response.headers.replaceOrAdd(name: name, value: value) }
        return response
    }

    private func run(_ ctx: inout RequestContext) async -> GatewayResponse {
        do {
            try ValidatePhase().run(&ctx)
            try RoutePhase(routes: snapshot.routes).run(&ctx)
            if ctx.method == .OPTIONS { return Self.preflight(ctx) }
            try ClassifyPhase().run(&ctx)
            try await AuthenticatePhase(verifier: snapshot.verifier).run(&ctx)
            try AuthorizePhase(signer: signer).run(&ctx)
            try await RateLimitPhase(limiter: limiter).run(&ctx)
            let bulk = BulkJobPhase(jobs: bulkJobs)
            if let answer = try await bulk.prepare(&ctx) { return answer }
            let maxChecked = snapshot.config.server.limits.maxCheckedResponseBytes
            try await WritePrecheckPhase(maxCheckedBytes: maxChecked).run(&ctx)
            let upstream = try await ForwardPhase().run(&ctx)
            if let answer = try await bulk.finish(&ctx, upstream: upstream, maxManifestBytes: maxChecked) { return answer }
            return try await ResponseGuardPhase(maxCheckedBytes: maxChecked, signer: signer).run(&ctx, upstream: upstream)
        } catch {
            ctx.failureReason = error.reason
            if ctx.decision == nil || ctx.decision?.isAllowed == true {
                // Denials before or after authorization are recorded as such.
                if case .upstreamUnavailable = error {} else if case .upstreamTimeout = error {} else {
                    ctx.decision = .deny(error)
                }
            }
            return GatewayResponse.error(error, realm: ctx.route?.realm ?? "fhirgate", requestID: ctx.requestID)
        }
    }

    /// CORS preflight for API paths is answered by the gateway itself.
    static func preflight(_ ctx: RequestContext) -> GatewayResponse {
        var headers = CrossOrigin.preflightHeaders()
        headers.add(name: "Content-Length", value: "0")
        headers.add(name: "X-Request-ID", value: ctx.requestID)
        return GatewayResponse(status: .noContent, headers: headers, body: .empty)
    }
}
