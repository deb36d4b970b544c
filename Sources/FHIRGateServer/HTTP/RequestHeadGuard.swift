import FHIRGateCore
import NIOCore

/// Guards the request head at the byte level, before the HTTP decoder sees it:
/// - a head larger than `maxHeaderBytes` gets 431 and the connection is closed;
/// - a head not complete within `headerTimeout` of its first byte (or of the connection
///   opening) closes the connection (slow-header senders, slowloris);
/// - a keep-alive connection idle for `idleTimeout` after a response is closed.
///
/// Event-loop confined. `ExchangeObserver` tells it when a request and its response end.
final class RequestHeadGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let maxHeaderBytes: Int
    let headerTimeout: TimeAmount
    let idleTimeout: TimeAmount

    private var awaitingHead = true
    private var headBytes = 0
    private var terminator: UInt32 = 0
    private var timer: Scheduled<Void>?
    private var context: ChannelHandlerContext?
    private var rejected = false

    let audit: ConnectionRefusalAudit

    init(maxHeaderBytes: Int, headerTimeout: TimeAmount, idleTimeout: TimeAmount, audit: ConnectionRefusalAudit) {
        self.audit = audit
        self.maxHeaderBytes = maxHeaderBytes
        self.headerTimeout = headerTimeout
        self.idleTimeout = idleTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { arm(headerTimeout) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(headerTimeout)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if rejected { return }
        if awaitingHead {
            let buffer = unwrapInboundIn(data)
            if headBytes == 0 { arm(headerTimeout) }
            var counted = 0
            var complete = false
            buffer.withUnsafeReadableBytes { bytes in
                for b in bytes {
                    counted += 1
                    terminator = terminator << 8 | UInt32(b)
                    if terminator == 0x0D0A_0D0A || terminator & 0xFFFF == 0x0A0A {
                        complete = true
                        break
                    }
                }
            }
            headBytes += counted
            if headBytes > maxHeaderBytes {
                reject(context: context)
                return
            }
            if complete {
                awaitingHead = false
                headBytes = 0
                terminator = 0
                timer?.cancel()
                timer = nil
            }
        }
        context.fireChannelRead(data)
    }

    /// The decoder saw the end of a request: the next bytes start a new head.
    func requestEnded() {
        awaitingHead = true
        headBytes = 0
        terminator = 0
    }

    /// A response was fully written: wait for the next request, at most `idleTimeout`.
    func responseEnded() {
        if awaitingHead { arm(headBytes == 0 ? idleTimeout : headerTimeout) }
    }

    private func arm(_ amount: TimeAmount) {
        timer?.cancel()
        guard let context else { return }
        timer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: amount) { [weak self] in
            guard let self, let context = self.context else { return }
            // Either a head that never completed or an idle keep-alive: just close.
            context.close(promise: nil)
        }
    }

    private func reject(context: ChannelHandlerContext) {
        rejected = true
        timer?.cancel()
        let error = GatewayError.headersTooLarge
        audit.record(error, remote: context.channel.remoteAddress)
        let body = error.operationOutcome.json
        var out = context.channel.allocator.buffer(capacity: 256 + body.utf8.count)
        out.writeString("HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: application/fhir+json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n")
        out.writeString(body)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(out)).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// Sits after the HTTP codec and tells `RequestHeadGuard` where requests and responses end.
final class ExchangeObserver: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let headGuard: RequestHeadGuard

    init(headGuard: RequestHeadGuard) {
        self.headGuard = headGuard
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) { headGuard.requestEnded() }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            let headGuard = self.headGuard
            let done = context.eventLoop.makePromise(of: Void.self)
            done.futureResult.assumeIsolatedUnsafeUnchecked().whenComplete { result in
                headGuard.responseEnded()
                switch result {
                case .success: promise?.succeed()
                case .failure(let e): promise?.fail(e)
                }
            }
            context.write(data, promise: done)
        } else {
            context.write(data, promise: promise)
        }
    }
}

import NIOHTTP1
