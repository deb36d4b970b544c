import AsyncHTTPClient
import FHIRGateCore
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization
import FHIRGateAudit

/// Serves the requests of one client connection, one at a time (pipelined requests are
/// queued by NIO's pipelining handler): read head and body within limits, run the
/// pipeline, stream the response, write the audit record, honour keep-alive.
/// For HTTP/2 it serves the one request of a stream (`http2Peer` names the connection).
struct HTTPConnection {
    let channel: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>
    let runtime: GatewayRuntime
    let registry: ConnectionRegistry
    var http2Peer: Peer?

    /// What the audit record and X-Forwarded-* say about the client's connection.
    struct Peer: Sendable {
        let clientIP: String?
        let tlsVersion: String?
    }

    func run() async {
        if let peer = http2Peer {
            // One request per stream; the HTTP/2 connection is registered for drains.
            do {
                try await channel.executeThenClose { inbound, outbound in
                    var parts = inbound.makeAsyncIterator()
                    var bodyUnread = false
                    if case .head(let head) = try await parts.next() {
                        bodyUnread = try await serve(head: head, parts: &parts, outbound: outbound, clientIP: peer.clientIP,
                                                     tlsVersion: peer.tlsVersion).bodyUnread
                    }
                    // The writes above are queued, not yet sent (HTTP/2 flow control): closing
                    // the stream now would reset it (CANCEL) and lose the response's end. The
                    // stream closes itself once both sides have ended; a client that stops
                    // reading, or is still sending a refused body, is reset after a grace time.
                    let stream = channel.channel
                    let grace = stream.eventLoop.scheduleTask(in: bodyUnread ? .milliseconds(500) : .seconds(10)) { stream.close(promise: nil) }
                    try? await stream.closeFuture.get()
                    grace.cancel()
                }
            } catch {
                runtime.logger.debug("stream closed: \(error)")
            }
            return
        }
        let id = registry.register(channel.channel)
        defer { registry.remove(id) }
        let clientIP = channel.channel.remoteAddress?.ipAddress
        var tlsVersion: String?
        if let version = try? await channel.channel.nioSSL_tlsVersion().get() { tlsVersion = Self.describe(version) }
        do {
            try await channel.executeThenClose { inbound, outbound in
                var parts = inbound.makeAsyncIterator()
                while let part = try await parts.next() {
                    guard case .head(let head) = part else { return }
                    registry.setBusy(id, true)
                    let exchange = try await serve(head: head, parts: &parts, outbound: outbound, clientIP: clientIP, tlsVersion: tlsVersion)
                    registry.setBusy(id, false)
                    if !exchange.keepOpen || registry.isDraining { return }
                }
            }
        } catch {
            runtime.logger.debug("connection closed: \(error)")
        }
    }

    /// How one exchange ended.
    struct Exchange {
        /// The connection may carry another request.
        var keepOpen: Bool
        /// The request body was refused before it was read to its end.
        var bodyUnread = false
    }

    /// Serves one request.
    private func serve(head: HTTPRequestHead, parts: inout NIOAsyncChannelInboundStream<HTTPServerRequestPart>.AsyncIterator,
                       outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>, clientIP: String?,
                       tlsVersion: String?) async throws -> Exchange {
        let snapshot = runtime.snapshot
        let limits = snapshot.config.server.limits
        let requestID = Self.requestID(head.headers.first(name: "x-request-id"))
        var body = ByteBuffer()
        var refusal: GatewayError?

        // A declared body over the limit is refused before any of it is read.
        if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > limits.maxBodyBytes {
            refusal = .payloadTooLarge
        } else {
            loop: while let part = try await parts.next() {
                switch part {
                case .body(var chunk):
                    if body.readableBytes + chunk.readableBytes > limits.maxBodyBytes {
                        refusal = .payloadTooLarge
                        break loop
                    }
                    body.writeBuffer(&chunk)
                case .end:
                    break loop
                case .head:
                    return Exchange(keepOpen: false)
                }
            }
        }
        // Without a working audit trail, answer nothing but 503 (on_audit_failure: deny).
        if refusal == nil, runtime.audit.isFailing, snapshot.config.audit.onFailure == .deny {
            refusal = .serviceUnavailable(reason: "audit_unavailable")
        }

        var ctx = RequestContext(requestID: requestID, started: .now, receivedAt: Date(), clientIP: clientIP, tlsVersion: tlsVersion,
                                 head: head, body: body)
        ctx.viaHTTP2 = http2Peer != nil
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
        if !keepAlive && http2Peer == nil { response.headers.add(name: "Connection", value: "close") }
        ctx.status = Int(response.status.code)
        // The audit record is written before the client can have the whole response: the
        // last body bytes (or the head, for an empty body) wait for it. A response the
        // client received therefore always has its record, even if the gateway dies.
        let finished = Mutex<(record: AuditRecord, at: ContinuousClock.Instant)?>(nil)
        let prepared = ctx
        let runtime = self.runtime
        let waitForRecord = refusal?.reason != "audit_unavailable" && snapshot.config.audit.onFailure == .deny
        let loop = channel.channel.eventLoop
        let commitAudit: @Sendable (Int) async throws -> Void = { bytesOut in
            var c = prepared
            c.bytesOut = bytesOut
            let now = ContinuousClock.now
            let record = c.auditRecord(now: now)
            finished.withLock { $0 = (record, now) }
            guard waitForRecord else {
                // A refusal because auditing fails, or on_audit_failure: allow: queue it
                // (written once the disk works again) and answer without waiting.
                await runtime.audit.append(record)
                return
            }
            // Data goes out only with its record on disk; if the disk does not take it in
            // time, the response is cut off instead of completed (the record stays queued).
            // The writer thread completes a promise of this connection's event loop, so the
            // task resumes where its channel lives (a continuation resumed from the writer
            // thread would continue on an arbitrary loop and hop back for every write).
            let written = loop.makePromise(of: Bool.self)
            await runtime.audit.append(record, timeout: .seconds(2)) { written.succeed($0) }
            guard try await written.futureResult.get() else { throw AuditNotWritten() }
        }
        var completed = false
        do {
            try await write(response, head: head, to: outbound, bytesOut: &ctx.bytesOut, beforeCompleting: commitAudit)
            completed = true
        } catch {
            // The upstream failed mid-stream: close the connection rather than pretend
            // the truncated response was complete.
            ctx.failureReason = ctx.failureReason ?? "response_interrupted"
        }
        let record: AuditRecord
        let end: ContinuousClock.Instant
        if let done = finished.withLock({ $0 }) {
            (record, end) = done
        } else {
            end = ContinuousClock.now
            record = ctx.auditRecord(now: end)
            await runtime.audit.append(record)
        }
        runtime.metrics.requestFinished(route: ctx.route?.settings.name ?? "-", status: ctx.status, decision: record.decision,
                                        duration: ctx.started.duration(to: end), upstream: ctx.upstreamDuration)
        return Exchange(keepOpen: completed && keepAlive, bodyUnread: refusal == .payloadTooLarge)
    }

    /// Writes the response; `beforeCompleting` runs (with the byte count) just before the
    /// bytes that complete the response are written.
    private func write(_ response: GatewayResponse, head: HTTPRequestHead, to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>,
                       bytesOut: inout Int, beforeCompleting: @Sendable (Int) async throws -> Void) async throws {
        var headers = response.headers
        if case .bytes(let b) = response.body, !headers.contains(name: "content-length") {
            headers.add(name: "Content-Length", value: String(b.readableBytes))
        }
        let responseHead = HTTPServerResponsePart.head(HTTPResponseHead(version: head.version, status: response.status, headers: headers))
        // Parts go out in as few writes as possible: each write through the async channel
        // is a flush, a TLS record and a system call of its own.
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
                    try await outbound.write(contentsOf: parts)
                    parts.removeAll(keepingCapacity: true)
                }
                pending = chunk
            }
            if let last = pending { parts.append(.body(.byteBuffer(last))) }
        }
        let remaining = parts.reduce(0) { total, part in
            if case .body(.byteBuffer(let b)) = part { return total + b.readableBytes }
            return total
        }
        try await beforeCompleting(bytesOut + remaining)
        bytesOut += remaining
        parts.append(.end(nil))
        try await outbound.write(contentsOf: parts)
    }

    /// Keeps a client's well-formed request id for correlation; otherwise makes one.
    static func requestID(_ given: String?) -> String {
        if let given, (1...128).contains(given.utf8.count),
           given.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D || $0 == 0x5F || $0 == 0x2E }) {
            return given
        }
        return RequestID.next()
    }

    struct AuditNotWritten: Error {}

    static func describe(_ version: TLSVersion) -> String {
        switch version {
        case .tlsv13: "TLSv1.3"
        case .tlsv12: "TLSv1.2"
        case .tlsv11: "TLSv1.1"
        case .tlsv1: "TLSv1.0"
        }
    }
}
