import FHIRGateCore
import NIOCore

/// Guards the request head at the byte level, before the HTTP decoder sees it:
/// - a request line that is not exactly `METHOD SP /target SP HTTP/1.1 CRLF` gets 400;
/// - a head larger than `maxHeaderBytes` gets 431 and the connection is closed;
/// - a head not complete within `headerTimeout` of its first byte (or of the connection
///   opening) closes the connection (slow-header senders, slowloris);
/// - a request body not complete within `bodyTimeout` of its head gets 408 and the
///   connection is closed (slow-body senders);
/// - a keep-alive connection idle for `idleTimeout` after a response is closed;
/// - a client that takes no response bytes for `sendTimeout` (the socket stays unwritable)
///   is disconnected (slow readers; the response is recorded as interrupted).
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
    let bodyTimeout: TimeAmount
    let sendTimeout: TimeAmount
    /// Set while the socket is unwritable: when the client must have taken bytes by.
    private var sendDeadline: NIODeadline?

    private var awaitingHead = true
    private var headBytes = 0
    private var terminator: UInt32 = 0
    /// What happens when `deadline` passes: close quietly (head or idle timeout), or
    /// answer 408 (body timeout).
    private enum Expiry { case close, bodyTimeout }
    private var deadline: NIODeadline?
    private var expiry = Expiry.close
    /// One repeating check per connection instead of a timer scheduled and cancelled for
    /// every phase of every request (three per request, a measurable share of the
    /// per-request cost); timeouts are kept to within one tick.
    private var ticker: Scheduled<Void>?
    private let tick: TimeAmount
    private var context: ChannelHandlerContext?
    private var rejected = false
    /// Bytes of the request line being read (validated at its LF).
    private var inRequestLine = true
    private var requestLine: [UInt8] = []

    let audit: ConnectionRefusalAudit

    init(maxHeaderBytes: Int, headerTimeout: TimeAmount, idleTimeout: TimeAmount, bodyTimeout: TimeAmount = .seconds(30),
         sendTimeout: TimeAmount = .seconds(60), audit: ConnectionRefusalAudit) {
        self.bodyTimeout = bodyTimeout
        self.sendTimeout = sendTimeout
        let shortest = min(headerTimeout, idleTimeout, bodyTimeout, sendTimeout)
        tick = max(.milliseconds(50), min(.seconds(1), .nanoseconds(shortest.nanoseconds / 4)))
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
        ticker?.cancel()
        ticker = nil
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(headerTimeout)
        context.fireChannelActive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            sendDeadline = nil
        } else {
            sendDeadline = .now() + sendTimeout
            if ticker == nil { scheduleTick(context) }
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        ticker?.cancel()
        ticker = nil
        deadline = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if rejected { return }
        if awaitingHead {
            let buffer = unwrapInboundIn(data)
            if headBytes == 0 { arm(headerTimeout) }
            var counted = 0
            var complete = false
            var badLine = false
            buffer.withUnsafeReadableBytes { bytes in
                for b in bytes {
                    counted += 1
                    if inRequestLine {
                        if b == 0x0A {
                            inRequestLine = false
                            badLine = !Self.isValidRequestLine(requestLine)
                            requestLine.removeAll(keepingCapacity: true)
                            if badLine { break }
                        } else if requestLine.count < maxHeaderBytes {
                            requestLine.append(b)
                        }
                    }
                    terminator = terminator << 8 | UInt32(b)
                    if terminator == 0x0D0A_0D0A || terminator & 0xFFFF == 0x0A0A {
                        complete = true
                        break
                    }
                }
            }
            if badLine {
                reject(context: context, error: .malformedRequest(reason: "request_line"))
                return
            }
            headBytes += counted
            if headBytes > maxHeaderBytes {
                reject(context: context, error: .headersTooLarge)
                return
            }
            if complete {
                awaitingHead = false
                headBytes = 0
                terminator = 0
                // The body (if any) must follow within bodyTimeout; a request that ends at
                // its head cancels this at once (requestEnded).
                armBodyTimeout()
            }
        }
        context.fireChannelRead(data)
    }

    /// The decoder saw the end of a request: the next bytes start a new head.
    func requestEnded() {
        deadline = nil
        awaitingHead = true
        headBytes = 0
        terminator = 0
        inRequestLine = true
        requestLine.removeAll(keepingCapacity: true)
    }

    /// `METHOD SP origin-form SP HTTP/1.1 CR LF`, exactly: a token method, one space each,
    /// a target of visible ASCII starting with `/`, and CRLF. Parsers disagree on anything
    /// looser (extra spaces, tabs, bare LF, absolute or asterisk form), so it is refused
    /// before one of them reads it.
    static func isValidRequestLine(_ line: [UInt8]) -> Bool {
        guard line.last == 0x0D else { return false }
        let body = line.dropLast()
        let parts = body.split(separator: 0x20, omittingEmptySubsequences: false)
        guard parts.count == 3, let method = parts.first, !method.isEmpty,
              method.allSatisfy({ ($0 >= 0x41 && $0 <= 0x5A) }),
              parts[1].first == 0x2F, parts[1].allSatisfy({ $0 > 0x20 && $0 < 0x7F }),
              Array(parts[2]) == Array("HTTP/1.1".utf8) else { return false }
        return true
    }

    /// A response was fully written: wait for the next request, at most `idleTimeout`.
    func responseEnded() {
        if awaitingHead { arm(headBytes == 0 ? idleTimeout : headerTimeout) }
    }

    private func arm(_ amount: TimeAmount) {
        set(amount, .close)
    }

    /// A body trickled slower than bodyTimeout allows gets 408 and the connection closed.
    private func armBodyTimeout() {
        set(bodyTimeout, .bodyTimeout)
    }

    private func set(_ amount: TimeAmount, _ kind: Expiry) {
        guard let context else { return }
        deadline = .now() + amount
        expiry = kind
        if ticker == nil { scheduleTick(context) }
    }

    private func scheduleTick(_ context: ChannelHandlerContext) {
        ticker = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: tick) { [weak self] in
            guard let self, let context = self.context else { return }
            self.ticker = nil
            self.check()
            if self.deadline != nil || self.sendDeadline != nil, context.channel.isActive { self.scheduleTick(context) }
        }
    }

    private func check() {
        if let sendDeadline, sendDeadline <= .now(), let context {
            // The client has not taken a byte for sendTimeout: it is not reading.
            self.sendDeadline = nil
            context.close(promise: nil)
            return
        }
        guard let deadline, deadline <= .now(), let context else { return }
        self.deadline = nil
        switch expiry {
        case .close:
            // Either a head that never completed or an idle keep-alive: just close.
            context.close(promise: nil)
        case .bodyTimeout:
            if !awaitingHead { reject(context: context, error: .requestTimeout(reason: "body_timeout")) }
        }
    }

    private func reject(context: ChannelHandlerContext, error: GatewayError) {
        rejected = true
        deadline = nil
        audit.record(error, remote: context.channel.remoteAddress)
        let body = error.operationOutcome.json
        let reason = error.status == 431 ? "Request Header Fields Too Large" : error.status == 408 ? "Request Timeout" : "Bad Request"
        var out = context.channel.allocator.buffer(capacity: 256 + body.utf8.count)
        out.writeString("HTTP/1.1 \(error.status) \(reason)\r\nContent-Type: application/fhir+json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n")
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
