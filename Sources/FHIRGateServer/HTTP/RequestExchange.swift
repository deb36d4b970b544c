import FHIRGateAudit
import FHIRGateCore
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// Serves one received request, whatever carried it: runs the pipeline, writes the
/// response to a `ResponseSink`, and makes sure the audit record is on disk before the
/// bytes that complete the response leave.
struct RequestExchange: Sendable {
    let runtime: GatewayRuntime
    let registry: ConnectionRegistry
    let peer: Peer
    /// The exchange is an HTTP/2 stream (no Connection header; keep-alive is the stream's).
    let viaHTTP2: Bool
    /// The loop of the client's channel: the audit wait resumes there.
    let loop: any EventLoop

    /// What the audit record and X-Forwarded-* say about the client's connection.
    struct Peer: Sendable {
        let clientIP: String?
        let tlsVersion: String?
    }

    /// How one exchange ended.
    struct Outcome: Sendable {
        /// The connection may carry another request.
        var keepOpen: Bool
        /// The request body was refused before it was read to its end.
        var bodyUnread = false
    }

    /// Serves one request whose body was gathered (or refused) by a `RequestBodyCollector`;
    /// returns once the sink has the response's last parts (`ResponseSink.finish`).
    func serve(head: HTTPRequestHead, body: ByteBuffer, refusal bodyRefusal: GatewayError?, to sink: some ResponseSink) async {
        let snapshot = runtime.snapshot
        let requestID = Self.requestID(head.headers.first(name: "x-request-id"))
        var refusal = bodyRefusal
        // Without a working audit trail, answer nothing but 503 (on_audit_failure: deny).
        if refusal == nil, runtime.audit.isFailing, snapshot.config.audit.onFailure == .deny {
            refusal = .serviceUnavailable(reason: "audit_unavailable")
        }

        var ctx = RequestContext(requestID: requestID, started: .now, receivedAt: Date(), clientIP: peer.clientIP,
                                 tlsVersion: peer.tlsVersion, head: head, body: body)
        ctx.viaHTTP2 = viaHTTP2
        var response: GatewayResponse
        if let refusal {
            try? ValidatePhase().run(&ctx)
            try? RoutePhase(routes: snapshot.routes).run(&ctx)
            ctx.failureReason = refusal.reason
            ctx.decision = .deny(refusal)
            response = .error(refusal, realm: ctx.route?.realm ?? "fhirgate", requestID: requestID)
        } else {
            response = await RequestPipeline(snapshot: snapshot, limiter: runtime.limiter, signer: runtime.pageLinks, bulkJobs: runtime.bulkJobs).handle(&ctx)
        }

        // After a malformed request nothing more is read from the connection: what follows
        // it could be framed differently by another parser (request smuggling).
        let keepAlive = refusal != .payloadTooLarge && response.status != .badRequest && head.isKeepAlive && !registry.isDraining
        response.headers.remove(name: "Connection")
        CrossOrigin.apply(to: &response.headers)
        if !keepAlive && !viaHTTP2 { response.headers.add(name: "Connection", value: "close") }
        ctx.status = Int(response.status.code)
        let outcome = Outcome(keepOpen: keepAlive, bodyUnread: bodyRefusal != nil)
        let final: [HTTPServerResponsePart]
        do {
            final = try await writeAllButLast(response, head: head, to: sink, bytesOut: &ctx.bytesOut)
        } catch {
            // The upstream failed mid-stream, or the client went: close the connection
            // rather than pretend the truncated response was complete.
            ctx.failureReason = ctx.failureReason ?? "response_interrupted"
            let end = ContinuousClock.now
            let record = ctx.auditRecord(now: end)
            await runtime.audit.append(record)
            recordMetrics(ctx, record, at: end)
            sink.finish(nil, after: nil, outcome: outcome)
            return
        }
        // The audit record is written before the client can have the whole response: the
        // last body bytes (or the head, for an empty body) wait for it. A response the
        // client received therefore always has its record, even if the gateway dies.
        for part in final {
            if case .body(.byteBuffer(let b)) = part { ctx.bytesOut += b.readableBytes }
        }
        let end = ContinuousClock.now
        let record = ctx.auditRecord(now: end)
        let gate: EventLoopFuture<Bool>?
        if refusal?.reason != "audit_unavailable" && snapshot.config.audit.onFailure == .deny {
            // Data goes out only with its record on disk; if the disk does not take it in
            // time, the response is cut off instead of completed (the record stays queued).
            // The writer thread completes a promise of the connection's event loop, where
            // the sink writes the last parts.
            let written = loop.makePromise(of: Bool.self)
            await runtime.audit.append(record, timeout: .seconds(2)) { written.succeed($0) }
            gate = written.futureResult
        } else {
            // A refusal because auditing fails, or on_audit_failure: allow: queue it
            // (written once the disk works again) and answer without waiting.
            await runtime.audit.append(record)
            gate = nil
        }
        recordMetrics(ctx, record, at: end)
        sink.finish(final + [.end(nil)], after: gate, outcome: outcome)
    }

    private func recordMetrics(_ ctx: RequestContext, _ record: AuditRecord, at end: ContinuousClock.Instant) {
        runtime.metrics.requestFinished(route: ctx.route?.settings.name ?? "-", status: ctx.status, decision: record.decision,
                                        duration: ctx.started.duration(to: end), upstream: ctx.upstreamDuration)
    }

    /// Writes the response but for its last body bytes (the head, for an empty or small
    /// body), which it returns: those wait for the audit record.
    private func writeAllButLast(_ response: GatewayResponse, head: HTTPRequestHead, to sink: some ResponseSink,
                                 bytesOut: inout Int) async throws -> [HTTPServerResponsePart] {
        var headers = response.headers
        if case .bytes(let b) = response.body, !headers.contains(name: "content-length") {
            headers.add(name: "Content-Length", value: String(b.readableBytes))
        }
        let responseHead = HTTPServerResponsePart.head(HTTPResponseHead(version: head.version, status: response.status, headers: headers))
        // Parts go out in as few writes as possible: each write is a flush, a TLS record
        // and a system call of its own.
        var parts: [HTTPServerResponsePart] = [responseHead]
        switch (head.method == .HEAD ? .empty : response.body) {
        case .empty:
            break
        case .bytes(let buffer):
            if buffer.readableBytes > 0 { parts.append(.body(.byteBuffer(buffer))) }
        case .stream(let stream):
            // One chunk of lookahead: the last chunk is held until the record is written.
            // The head goes out together with the first chunk, i.e. once a second chunk
            // (or the end) has arrived: a small body is one write, not three.
            var pending: ByteBuffer?
            for try await chunk in stream {
                if let previous = pending {
                    bytesOut += previous.readableBytes
                    parts.append(.body(.byteBuffer(previous)))
                    try await sink.write(parts)
                    parts.removeAll(keepingCapacity: true)
                }
                pending = chunk
            }
            if let last = pending { parts.append(.body(.byteBuffer(last))) }
        }
        return parts
    }

    /// Keeps a client's well-formed request id for correlation; otherwise makes one.
    static func requestID(_ given: String?) -> String {
        if let given, (1...128).contains(given.utf8.count),
           given.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D || $0 == 0x5F || $0 == 0x2E }) {
            return given
        }
        return RequestID.next()
    }

    static func describe(_ version: TLSVersion) -> String {
        switch version {
        case .tlsv13: "TLSv1.3"
        case .tlsv12: "TLSv1.2"
        case .tlsv11: "TLSv1.1"
        case .tlsv1: "TLSv1.0"
        }
    }
}
