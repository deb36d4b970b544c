import FHIRGateCore
import NIOCore
import NIOHTTP1
import NIOSSL

/// The end of an HTTP/1.1 connection's pipeline, or of an HTTP/2 stream's: gathers each
/// request (head and body within limits) on the event loop, then serves it in a task of
/// its own through `RequestExchange`, which writes the response back through this handler.
///
/// Why a handler and not an async channel per connection or stream: an `NIOAsyncChannel`
/// moves every request part and every response write through an async sequence, its
/// buffer and a task switch, which measured about a fifth of a small request's CPU. Here
/// the parts are gathered synchronously and a request costs one task.
///
/// HTTP/1.1 requests are served one at a time: NIO's pipelining handler holds a pipelined
/// request until the response before it has ended, and a request that completes while
/// the last exchange is still finishing (its last parts wait for the audit record) waits
/// here. An HTTP/2 stream carries one request; its connection (`HTTP2ConnectionState`) counts the
/// exchanges of all its streams.
/// Event-loop confined.
final class ExchangeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        /// Between requests, or the rest of a refused body is being dropped.
        case idle
        case receiving(HTTPRequestHead, RequestBodyCollector)
        /// Received whole while the previous exchange is still finishing.
        case waiting(HTTPRequestHead, RequestBodyCollector)
        /// The exchange is writing its response.
        case serving
    }

    /// What carries the requests: an HTTP/1.1 connection (registered for drains on its
    /// own), or one stream of an HTTP/2 connection.
    enum Carrier {
        case http1
        case http2Stream(HTTP2ConnectionState, RequestExchange.Peer, StreamTimeouts)
    }

    /// An HTTP/1.1 connection's body and send timeouts are kept by its head guard, at the
    /// byte level; an HTTP/2 stream's by its handler.
    struct StreamTimeouts {
        /// The request body must be complete this long after its head (else 408).
        let body: TimeAmount
        /// A response the client takes no byte of for this long is cut off (the stream is reset).
        let send: TimeAmount
    }

    private let runtime: GatewayRuntime
    private let registry: ConnectionRegistry
    private let carrier: Carrier
    private let maxBodyBytes: Int
    private var state = State.idle
    private var exchangeRunning = false
    private var context: ChannelHandlerContext?
    private var registryID: Int?
    private var peer: RequestExchange.Peer?
    /// Completed when the client can take more bytes (set while a write waits for it).
    private var writable: EventLoopPromise<Void>?
    private var inactive = false
    /// An HTTP/2 stream has had its one request.
    private var servedStream = false
    private let eventLoop: any EventLoop
    /// Completed once the connection is closed and its last exchange has finished: what
    /// a drain waits for.
    private let finished: EventLoopPromise<Void>?
    private var finishedSignalled = false
    /// HTTP/1.1: completed once the connection is closed and its last exchange finished.
    var closedAndIdle: EventLoopFuture<Void>? { finished?.futureResult }
    /// HTTP/2: closes the stream if the client has not ended its side in time.
    private var streamGrace: Scheduled<Void>?
    /// HTTP/2: the body or send timeout running (at most one at a time).
    private var streamTimer: Scheduled<Void>?

    init(runtime: GatewayRuntime, registry: ConnectionRegistry, carrier: Carrier, maxBodyBytes: Int, eventLoop: any EventLoop) {
        self.runtime = runtime
        self.registry = registry
        self.carrier = carrier
        self.maxBodyBytes = maxBodyBytes
        self.eventLoop = eventLoop
        if case .http1 = carrier { finished = eventLoop.makePromise() } else { finished = nil }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if case .http1 = carrier { registryID = registry.register(context.channel) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        connectionGone()
        self.context = nil
    }

    private func signalFinished() {
        guard !finishedSignalled else { return }
        finishedSignalled = true
        finished?.succeed()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            guard case .idle = state, !servedStream else {
                // Cannot happen behind the pipelining handler or on a stream; never serve
                // two at once.
                context.close(promise: nil)
                return
            }
            let collector = RequestBodyCollector(head: head, maxBytes: maxBodyBytes)
            // A body declared too large is refused before any of it is read.
            if collector.refusal != nil {
                start(head, collector)
                return
            }
            state = .receiving(head, collector)
            // A client waiting for `100 Continue` (curl for bodies over 1 KB) would
            // otherwise wait a second before sending the body it announced.
            if head.headers.contains(where: { ASCIICase.equal($0.name, "expect") && ASCIICase.equal($0.value, "100-continue") }) {
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
            }
        case .body(var chunk):
            guard case .receiving(let head, var collector) = state else { return }
            state = .idle // the collector's buffer is then unique: appending does not copy it
            if collector.append(&chunk) { state = .receiving(head, collector) } else { start(head, collector) }
        case .end:
            guard case .receiving(let head, let collector) = state else { return }
            start(head, collector)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // A stream whose head came without its end: its body must follow in time. (Most
        // requests end with their head, in the same read: no timer for them.)
        if case .http2Stream(_, _, let timeouts) = carrier, case .receiving = state, streamTimer == nil {
            let this = NIOLoopBound(self, eventLoop: context.eventLoop)
            streamTimer = context.eventLoop.scheduleTask(in: timeouts.body) { this.value.bodyTimedOut() }
        }
        context.fireChannelReadComplete()
    }

    private func bodyTimedOut() {
        streamTimer = nil
        guard case .receiving(let head, var collector) = state else { return }
        state = .idle
        collector.refuse(.requestTimeout(reason: "body_timeout"))
        start(head, collector)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, let waiting = writable {
            writable = nil
            waiting.succeed()
            if isStream {
                streamTimer?.cancel()
                streamTimer = nil
            }
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        connectionGone()
        context.fireChannelInactive()
    }

    /// The connection or stream is closed (or this handler removed): nothing more is
    /// written, timers stop, and the drain learns of it once no exchange runs.
    private func connectionGone() {
        inactive = true
        if let waiting = writable {
            writable = nil
            waiting.fail(ChannelError.ioOnClosedChannel)
        }
        if let id = registryID { registry.remove(id) }
        registryID = nil
        streamGrace?.cancel()
        streamGrace = nil
        streamTimer?.cancel()
        streamTimer = nil
        if !exchangeRunning { signalFinished() }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Parser errors were answered below; anything else (TLS, reset) ends the connection.
        runtime.logger.debug("connection error: \(error)")
        context.close(promise: nil)
    }

    private func start(_ head: HTTPRequestHead, _ collector: RequestBodyCollector) {
        guard let context else { return }
        if exchangeRunning {
            state = .waiting(head, collector)
            return
        }
        state = .serving
        exchangeRunning = true
        let peer: RequestExchange.Peer
        switch carrier {
        case .http1:
            if let id = registryID { registry.setBusy(id, true) }
            peer = peerOf(context)
        case .http2Stream(let connection, let streamPeer, _):
            streamTimer?.cancel()
            streamTimer = nil
            servedStream = true
            connection.exchangeStarted()
            peer = streamPeer
        }
        let exchange = RequestExchange(runtime: runtime, registry: registry, peer: peer, viaHTTP2: isStream, loop: context.eventLoop)
        let this = NIOLoopBound(self, eventLoop: context.eventLoop)
        let sink = Sink(handler: this)
        let body = collector.body
        let refusal = collector.refusal
        Task { await exchange.serve(head: head, body: body, refusal: refusal, to: sink) }
    }

    private var isStream: Bool {
        if case .http2Stream = carrier { return true }
        return false
    }

    private func exchangeEnded(_ outcome: RequestExchange.Outcome) {
        exchangeRunning = false
        if case .http2Stream(let connection, _, _) = carrier {
            connection.exchangeEnded()
            // The response may still be queued behind flow control: closing the stream now
            // would reset it (CANCEL) and lose the response's end. The stream closes itself
            // once both sides have ended; a client that stops reading, or is still sending
            // a refused body, is reset after a grace time.
            if !inactive, let context {
                let stream = context.channel
                streamGrace = context.eventLoop.scheduleTask(in: outcome.bodyUnread ? .milliseconds(500) : .seconds(10)) {
                    stream.close(promise: nil)
                }
            }
            return
        }
        if inactive {
            signalFinished()
            return
        }
        if let id = registryID { registry.setBusy(id, false) } // closes the connection during a drain
        guard outcome.keepOpen, !registry.isDraining else {
            context?.close(promise: nil)
            return
        }
        if case .waiting(let head, let collector) = state {
            state = .idle
            start(head, collector)
        }
    }

    /// The client's address and TLS version, read once: by the first complete request
    /// the handshake is done.
    private func peerOf(_ context: ChannelHandlerContext) -> RequestExchange.Peer {
        if let peer { return peer }
        let version = (try? context.pipeline.syncOperations.nioSSL_tlsVersion()) ?? nil
        let made = RequestExchange.Peer(clientIP: context.channel.remoteAddress?.ipAddress, tlsVersion: version.map(RequestExchange.describe))
        peer = made
        return made
    }

    /// Writes and flushes parts that do not end the response; nil when the caller may go
    /// on at once, else a future to wait for (writability).
    fileprivate func send(_ parts: [HTTPServerResponsePart]) -> EventLoopFuture<Void>? {
        guard let context, !inactive else { return eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel) }
        for part in parts { context.write(wrapOutboundOut(part), promise: nil) }
        context.flush()
        if context.channel.isWritable { return nil }
        if writable == nil { writable = context.eventLoop.makePromise() }
        if case .http2Stream(_, _, let timeouts) = carrier, streamTimer == nil {
            // The client's flow-control window stays shut: it is not reading. Reset the
            // stream (the exchange records the response as interrupted).
            let stream = context.channel
            streamTimer = context.eventLoop.scheduleTask(in: timeouts.send) { stream.close(promise: nil) }
        }
        return writable?.futureResult
    }

    /// The exchange's last parts: written once the gate (the audit record on disk) opens;
    /// the exchange ends when they are handed to the socket, or at once if there are none.
    fileprivate func finish(_ parts: [HTTPServerResponsePart]?, after gate: EventLoopFuture<Bool>?, outcome: RequestExchange.Outcome) {
        guard let parts else { return end(outcome, completed: false) }
        guard let gate else { return writeLast(parts, outcome) }
        let this = NIOLoopBound(self, eventLoop: eventLoop)
        gate.hop(to: eventLoop).whenComplete { written in
            if (try? written.get()) == true { this.value.writeLast(parts, outcome) } else { this.value.end(outcome, completed: false) }
        }
    }

    private func writeLast(_ parts: [HTTPServerResponsePart], _ outcome: RequestExchange.Outcome) {
        guard let context, !inactive else { return end(outcome, completed: false) }
        if case .serving = state { state = .idle } // the next request may be gathered
        let done = context.eventLoop.makePromise(of: Void.self)
        for (index, part) in parts.enumerated() {
            context.write(wrapOutboundOut(part), promise: index == parts.count - 1 ? done : nil)
        }
        context.flush()
        let this = NIOLoopBound(self, eventLoop: eventLoop)
        done.futureResult.whenComplete { sent in this.value.end(outcome, completed: (try? sent.get()) != nil) }
    }

    /// A response that did not complete (cut off, interrupted, the client gone) ends its
    /// connection, or resets its stream at once: the client must not take it for whole.
    private func end(_ outcome: RequestExchange.Outcome, completed: Bool) {
        var outcome = outcome
        if !completed {
            outcome.keepOpen = false
            if isStream, !inactive { context?.close(promise: nil) }
        }
        exchangeEnded(outcome)
    }

    /// The exchange's side: hops to the connection's loop only when it is elsewhere.
    private struct Sink: ResponseSink {
        let handler: NIOLoopBound<ExchangeHandler>

        func write(_ parts: [HTTPServerResponsePart]) async throws {
            let loop = handler.eventLoop
            if loop.inEventLoop {
                if let wait = handler.value.send(parts) { try await wait.get() }
            } else {
                let handler = self.handler
                try await loop.flatSubmit { handler.value.send(parts) ?? loop.makeSucceededVoidFuture() }.get()
            }
        }

        func finish(_ parts: [HTTPServerResponsePart]?, after gate: EventLoopFuture<Bool>?, outcome: RequestExchange.Outcome) {
            let handler = self.handler
            if handler.eventLoop.inEventLoop {
                handler.value.finish(parts, after: gate, outcome: outcome)
            } else {
                handler.eventLoop.execute { handler.value.finish(parts, after: gate, outcome: outcome) }
            }
        }
    }
}
