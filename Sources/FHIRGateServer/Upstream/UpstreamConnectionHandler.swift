import NIOCore
import NIOHTTP1

/// One keep-alive HTTP/1.1 connection to an upstream, carrying one exchange at a time:
/// writes the request, hands back the response head, then feeds the body to its
/// consumer, reading from the socket only as fast as the consumer takes it. Back in the
/// pool after a complete response on a connection both sides keep alive; closed after
/// anything else (a timeout, an abandoned body, an error).
/// Event-loop confined.
final class UpstreamConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = Never
    typealias OutboundOut = HTTPClientRequestPart

    private enum State {
        case idle
        case awaitingHead(EventLoopPromise<UpstreamResponse>, keepAlive: Bool)
        /// The head is read; the body is gathered until the socket read that brought the
        /// head is done. A response that ends within it is handed over whole; otherwise
        /// it is handed over then, as a stream starting with what was gathered.
        case headRead(EventLoopPromise<UpstreamResponse>, HTTPResponseHead, body: ByteBuffer?, keepAlive: Bool)
        case streaming(UpstreamBody.Producer.Source, keepAlive: Bool)
        case closed
    }

    private var state = State.idle
    private var context: ChannelHandlerContext?
    /// The consumer has enough buffered: hold the socket's reads.
    private var holdReads = false
    /// Numbers the exchanges: a late word from an earlier body's consumer is ignored.
    private var exchange = 0
    /// The whole request went to the socket. An upstream may answer before it has read
    /// the body (an early 413): the connection is then not reused, or the rest of the body
    /// would be read as the next request.
    private var requestSent = false
    private var readPending = false
    /// When the exchange in flight times out (nil: nothing to time). One timer serves all
    /// exchanges of the connection: it is re-armed only when it fires early, not
    /// scheduled and cancelled for every request and every chunk.
    private var deadline: NIODeadline?
    private var wakeAt: NIODeadline?
    private let readTimeout: TimeAmount
    /// Called on the loop once an exchange has ended with the connection reusable.
    var onReusable: ((UpstreamConnectionHandler) -> Void)?
    /// Called on the loop once the connection is closed.
    var onClosed: ((UpstreamConnectionHandler) -> Void)?
    /// When the connection went back to the pool (stale ones are not reused).
    var idleSince = NIODeadline.now()

    init(readTimeout: TimeAmount) {
        self.readTimeout = readTimeout
    }

    var isUsable: Bool {
        guard case .idle = state, let context else { return false }
        return context.channel.isActive
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Sends a request; the future completes with the response head (or the failure).
    /// Nil when the connection cannot take it (closed meanwhile).
    func execute(_ head: HTTPRequestHead, body: ByteBuffer?, deadline: NIODeadline, keepAlive: Bool) -> EventLoopFuture<UpstreamResponse>? {
        guard let context, case .idle = state, context.channel.isActive else { return nil }
        let promise = context.eventLoop.makePromise(of: UpstreamResponse.self)
        exchange &+= 1
        state = .awaitingHead(promise, keepAlive: keepAlive)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if let body, body.readableBytes > 0 {
            // Only a body can still be on its way when the answer comes: track its end.
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            requestSent = false
            let sent = context.eventLoop.makePromise(of: Void.self)
            let current = exchange
            sent.futureResult.assumeIsolatedUnsafeUnchecked().whenSuccess { [weak self] in
                if let self, self.exchange == current { self.requestSent = true }
            }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: sent)
        } else {
            requestSent = true
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        setDeadline(deadline)
        return promise.futureResult
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            guard case .awaitingHead(let promise, let keepAlive) = state else { return fail(.connectionFailed) }
            // Interim answers (100 Continue, 103 Early Hints) precede the real one.
            if head.status.code < 200 && head.status != .switchingProtocols { return }
            state = .headRead(promise, head, body: nil, keepAlive: keepAlive && head.isKeepAlive)
            armReadTimeout()
        case .body(var chunk):
            switch state {
            case .headRead(let promise, let head, var body, let keepAlive):
                state = .idle // the gathered buffer is then unique: appending does not copy it
                if body == nil { body = chunk } else { body!.writeBuffer(&chunk) }
                state = .headRead(promise, head, body: body, keepAlive: keepAlive)
            case .streaming(let source, _):
                if source.yield(chunk) == .stopProducing {
                    holdReads = true
                    deadline = nil // the upstream is waiting for us, not the other way round
                } else {
                    armReadTimeout()
                }
            default:
                fail(.connectionFailed)
            }
        case .end:
            switch state {
            case .headRead(let promise, let head, let body, let keepAlive):
                deadline = nil
                state = .idle
                promise.succeed(UpstreamResponse(status: head.status, headers: head.headers, body: UpstreamBody(complete: body ?? ByteBuffer())))
                exchangeEnded(keepAlive: keepAlive, context: context)
            case .streaming(let source, let keepAlive):
                deadline = nil
                holdReads = false
                state = .idle
                source.finish()
                exchangeEnded(keepAlive: keepAlive, context: context)
            default:
                fail(.connectionFailed)
            }
        }
    }

    private func exchangeEnded(keepAlive: Bool, context: ChannelHandlerContext) {
        if keepAlive, requestSent, let onReusable {
            if readPending {
                readPending = false
                context.read()
            }
            onReusable(self)
        } else {
            close()
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if case .headRead(let promise, let head, let body, let keepAlive) = state {
            // The response goes on past this read: stream it from here.
            let producer = UpstreamBody.Producer.makeSequence(
                elementType: ByteBuffer.self, failureType: (any Error).self,
                backPressureStrategy: .init(lowWatermark: 1, highWatermark: 2), finishOnDeinit: false,
                delegate: UpstreamBodyDelegate(connection: NIOLoopBound(self, eventLoop: context.eventLoop), exchange: exchange))
            state = .streaming(producer.source, keepAlive: keepAlive)
            if let body, producer.source.yield(body) == .stopProducing {
                holdReads = true
                deadline = nil
            }
            promise.succeed(UpstreamResponse(status: head.status, headers: head.headers, body: UpstreamBody(producer: producer.sequence)))
        }
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if holdReads {
            readPending = true
        } else {
            context.read()
        }
    }

    /// The body's consumer caught up.
    func consumerWantsMore(exchange: Int) {
        guard exchange == self.exchange, holdReads, case .streaming = state else { return }
        holdReads = false
        armReadTimeout()
        if readPending, let context {
            readPending = false
            context.read()
        }
    }

    /// The body's consumer stopped before its end: the rest cannot be skipped on a
    /// keep-alive connection, so the connection goes.
    func consumerGone(exchange: Int) {
        if exchange == self.exchange, case .streaming = state { close() }
    }

    /// Closes the connection (idle, stale, or not wanted any more).
    func discard() {
        fail(.connectionFailed)
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(.connectionFailed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(.connectionFailed)
    }

    private func armReadTimeout() {
        setDeadline(.now() + readTimeout)
    }

    private func setDeadline(_ at: NIODeadline) {
        deadline = at
        if let wakeAt, wakeAt <= at { return }
        guard let context else { return }
        wakeAt = at
        context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: at) { [weak self] in self?.wake(at) }
    }

    private func wake(_ at: NIODeadline) {
        if wakeAt == at { wakeAt = nil }
        guard let deadline else { return }
        if deadline <= .now() { fail(.timeout) } else { setDeadline(deadline) }
    }

    /// Ends whatever is in flight with `error` and closes the connection.
    private func fail(_ error: UpstreamError) {
        switch state {
        case .awaitingHead(let promise, _), .headRead(let promise, _, _, _): promise.fail(error)
        case .streaming(let source, _): source.finish(error)
        case .idle, .closed: break
        }
        close()
    }

    private func close() {
        if case .closed = state { return }
        state = .closed
        deadline = nil
        context?.close(promise: nil)
        let closed = onClosed
        onClosed = nil
        onReusable = nil
        closed?(self)
    }
}
