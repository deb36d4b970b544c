import FHIRGateCore
import Foundation
import NIOCore
import NIOHTTP1

/// Bulk Data around the forward phase. Before it: a kick-off takes one of the client's
/// concurrent-job slots (429 when none is left); a status or file request is resolved
/// through the job record to the upstream URL, after checking that the token belongs to
/// the job's owner (anyone else: the 404 of a job that does not exist). After it: the
/// upstream's 202 becomes a job with the gateway's own status URL, and a completed
/// manifest is rewritten to gateway file URLs. Files stream untouched.
struct BulkJobPhase {
    let jobs: any BulkJobStore

    func prepare(_ ctx: inout RequestContext) async throws(GatewayError) -> GatewayResponse? {
        guard let request = ctx.request, let route = ctx.route, let decision = ctx.decision, let token = ctx.token else { return nil }
        let policy = route.policy?.bulkExport ?? .init()
        if decision.isBulkKickoff {
            let slot = BulkExportJob.newID()
            let reserved: Bool
            do {
                reserved = try await jobs.reserve(owner: Self.owner(token), slot: slot, limit: policy.maxConcurrentJobsPerClient,
                                                  ttl: policy.jobTTLSeconds)
            } catch {
                throw .serviceUnavailable(reason: "bulk_job_store_unavailable")
            }
            guard reserved else { throw .throttled(retryAfterSeconds: 60, reason: "bulk_concurrent_jobs") }
            ctx.bulkSlot = slot
            return nil
        }
        guard request.interaction == .bulkStatus || request.interaction == .bulkFile, let id = request.id else { return nil }
        let found: BulkExportJob?
        do {
            found = try await jobs.load(id)
        } catch {
            throw .serviceUnavailable(reason: "bulk_job_store_unavailable")
        }
        guard let job = found else { throw .notFound(reason: "bulk_job_not_found") }
        if let denial = job.access(by: token, contexts: route.authorizer.settings.bulk.contexts) { throw denial }
        ctx.bulkJob = job
        if request.interaction == .bulkStatus {
            ctx.upstreamURL = job.upstreamStatusURL
            return nil
        }
        let file = request.bulkFile ?? ""
        if file == BulkExportJob.withheldFile, !job.withheld.isEmpty {
            let body = BulkManifest.withheldNote(job.withheld)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/fhir+ndjson")
            headers.add(name: "Content-Length", value: String(body.count))
            headers.add(name: "X-Request-ID", value: ctx.requestID)
            return GatewayResponse(status: .ok, headers: headers, body: ctx.isHead ? .empty : .bytes(ByteBuffer(bytes: body)))
        }
        guard let n = Int(file), job.files.indices.contains(n) else { throw .notFound(reason: "bulk_file_not_found") }
        ctx.upstreamURL = job.files[n]
        return nil
    }

    func finish(_ ctx: inout RequestContext, upstream: UpstreamResponse, maxManifestBytes: Int) async throws(GatewayError) -> GatewayResponse? {
        guard let request = ctx.request, let route = ctx.route, let token = ctx.token else { return nil }
        if let slot = ctx.bulkSlot {
            return try await registerJob(&ctx, slot: slot, upstream: upstream, route: route, token: token, request: request)
        }
        guard request.interaction == .bulkStatus, var job = ctx.bulkJob else { return nil }
        let code = upstream.status.code
        if code == 404 || code == 410 {
            try? await jobs.delete(job)
            throw .notFound(reason: "bulk_job_gone_upstream")
        }
        if request.method == .DELETE {
            // Cancelled: later polls get the 404 of a job that does not exist (Bulk v2).
            if (200..<300).contains(code) { try? await jobs.delete(job) }
            return nil
        }
        guard code == 200, !ctx.isHead else { return nil }
        let body: ByteBuffer
        do {
            body = try await upstream.body.collect(upTo: maxManifestBytes)
        } catch {
            throw .upstreamUnavailable(reason: "bulk_manifest_unreadable")
        }
        guard let rewritten = BulkManifest.rewrite(Array(body.readableBytesView), job: &job, publicBase: route.settings.baseURL,
                                                   upstreamBase: Self.origin(route.settings.upstream), internalURL: route.settings.upstreamURL) else {
            throw .upstreamUnavailable(reason: "bulk_manifest_unverifiable")
        }
        do {
            try await jobs.save(job, slot: job.id)
        } catch {
            throw .serviceUnavailable(reason: "bulk_job_store_unavailable")
        }
        var headers = HopByHop.strip(upstream.headers, alsoDropping: ResponseGuardPhase.upstreamIdentityHeaders)
        headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        headers.replaceOrAdd(name: "Content-Length", value: String(rewritten.count))
        headers.remove(name: "ETag")
        headers.replaceOrAdd(name: "X-Request-ID", value: ctx.requestID)
        return GatewayResponse(status: .ok, headers: headers, body: .bytes(ByteBuffer(bytes: rewritten)))
    }

    func registerJob(_ ctx: inout RequestContext, slot: String, upstream: UpstreamResponse, route: RouteRuntime, token: AccessToken,
                     request: FHIRRequest) async throws(GatewayError) -> GatewayResponse? {
        let owner = Self.owner(token)
        guard upstream.status == .accepted else {
            try? await jobs.release(owner: owner, slot: slot)
            return nil // the upstream's refusal passes through the guard phase
        }
        // The status URL must be the upstream's own: the gateway never polls elsewhere.
        let origin = Self.origin(route.settings.upstream)
        guard let location = upstream.headers.first(name: "content-location").map(route.settings.upstreamURL), location.hasPrefix(origin + "/") else {
            try? await jobs.release(owner: owner, slot: slot)
            throw .upstreamUnavailable(reason: "bulk_kickoff_location")
        }
        let now = Date().timeIntervalSince1970
        let ttl = route.policy?.bulkExport.jobTTLSeconds ?? PolicyFile.BulkExportPolicy().jobTTLSeconds
        var kickoff = route.settings.baseURL
        for segment in request.pathSegments { kickoff += "/" + PercentEncoding.encode(segment, inPath: true) }
        if let query = ctx.target?.query, !query.isEmpty { kickoff += "?" + PercentEncoding.query(query) }
        let job = BulkExportJob(id: slot, issuer: token.issuer, clientID: token.clientID, subject: token.subject, types: ctx.decision?.bulkTypes,
                                kickoffURL: kickoff, upstreamStatusURL: location, created: now, expires: now + ttl)
        do {
            try await jobs.save(job, slot: slot)
        } catch {
            // Nobody could ever poll this job: cancel it upstream rather than leave it running.
            var cancel = UpstreamRequest(url: location, method: .DELETE)
            ForwardPhase.addIdentity(to: &cancel.headers, ctx, route: route)
            if let response = try? await route.upstream.execute(cancel, timeout: .seconds(5)) { _ = try? await response.body.collect(upTo: 1 << 16) }
            throw .serviceUnavailable(reason: "bulk_job_store_unavailable")
        }
        ctx.bulkJob = job
        var headers = HopByHop.strip(upstream.headers, alsoDropping: ResponseGuardPhase.upstreamIdentityHeaders)
        headers.replaceOrAdd(name: "Content-Location", value: route.settings.baseURL + "/" + BulkExportJob.statusSegment + "/" + job.id)
        headers.replaceOrAdd(name: "X-Request-ID", value: ctx.requestID)
        return GatewayResponse(status: .accepted, headers: headers, body: .stream(upstream.body))
    }

    static func owner(_ token: AccessToken) -> String { BulkExportJob.ownerKey(issuer: token.issuer, clientID: token.clientID) }

    /// `scheme://host[:port]` of an absolute URL (the upstream's files may sit anywhere
    /// on the upstream server, not only under its FHIR base).
    static func origin(_ url: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        let rest = url[scheme.upperBound...]
        let host = rest.prefix { $0 != "/" && $0 != "?" }
        return String(url[..<scheme.upperBound]) + host
    }
}
