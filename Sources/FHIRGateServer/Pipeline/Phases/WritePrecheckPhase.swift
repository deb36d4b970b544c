import FHIRGateCore
import NIOCore
import NIOHTTP1

/// Phase 5b, only for update, patch and delete by id (and `$validate` of a stored
/// resource) under a `patient/` scope: fetches
/// the target's current version and lets the write go on only if that version is in the
/// patient's compartment. A resource of another patient gets the 404 a missing one gets
/// (no oracle, and no take-over). The version seen is pinned with `If-Match` so the
/// checked content is the content the write applies to.
struct WritePrecheckPhase {
    let maxCheckedBytes: Int

    func run(_ ctx: inout RequestContext) async throws(GatewayError) {
        guard let check = ctx.decision?.writePrecheck else { return }
        guard let route = ctx.route, let request = ctx.request, let type = request.resourceType, let id = request.id else {
            throw .internalError(reason: "precheck_before_classify")
        }
        var fetch = UpstreamRequest(url: route.settings.upstream + "/" + PercentEncoding.encode(type, inPath: true) + "/"
            + PercentEncoding.encode(id, inPath: true))
        var headers = HTTPHeaders()
        ForwardPhase.addIdentity(to: &headers, ctx, route: route)
        headers.add(name: "Accept", value: "application/fhir+json")
        headers.add(name: "Accept-Encoding", value: "identity")
        fetch.headers = headers

        let response: UpstreamResponse
        let body: ByteBuffer
        do {
            response = try await route.upstream.execute(fetch, timeout: .milliseconds(Int64(route.settings.readTimeoutSeconds * 1000)))
            body = try await response.body.collect(upTo: maxCheckedBytes)
        } catch is NIOTooManyBytesError {
            throw .upstreamUnavailable(reason: "precheck_buffer_exceeded")
        } catch {
            throw ForwardPhase.classify(error)
        }
        switch response.status.code {
        case 200:
            switch route.responseGuard.check(Array(body.readableBytesView), against: check) {
            case .pass:
                ctx.precheckedVersion = response.headers.first(name: "etag") ?? Self.versionTag(body)
            case .hide:
                throw .notFound(reason: "write_target_not_in_compartment")
            case .replace, .unverifiable:
                throw .upstreamUnavailable(reason: "precheck_unparseable")
            }
        case 404, 410:
            // Update as create: the new content was checked against the compartment already.
            if request.interaction == .update { return }
            throw .notFound(reason: "upstream_not_found")
        default:
            throw .upstreamUnavailable(reason: "precheck_upstream_status_\(response.status.code)")
        }
    }

    /// `W/"<meta.versionId>"` when the upstream sent no ETag.
    static func versionTag(_ body: ByteBuffer) -> String? {
        guard let resource = ResourceInspector.parse(Array(body.readableBytesView)),
              let version = resource["meta"]?["versionId"]?.string else { return nil }
        return "W/\"\(version)\""
    }
}
