import FHIRGateCore
import NIOCore
import NIOHTTP1

/// Answers requests the HTTP parser refused (smuggling forms, bad chunking, bare LF,
/// obs-fold, …) with a 400 OperationOutcome and closes the connection. Replaces NIO's
/// `HTTPServerProtocolErrorHandler`, whose answer is not FHIR.
final class ProtocolErrorHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private var responseInFlight = false
    private var failed = false
    private let audit: ConnectionRefusalAudit

    init(audit: ConnectionRefusalAudit) {
        self.audit = audit
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        guard !failed else { return }
        failed = true
        if responseInFlight {
            context.close(promise: nil)
            return
        }
        let gatewayError: GatewayError = parserError == .headerOverflow ? .headersTooLarge : .malformedRequest(reason: "http_parse_error")
        let body = gatewayError.operationOutcome.json
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/fhir+json")
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        headers.add(name: "Connection", value: "close")
        let head = HTTPResponseHead(version: .http1_1, status: .init(statusCode: gatewayError.status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        // The request never reached the pipeline, so it is audited here.
        audit.record(gatewayError, remote: context.channel.remoteAddress)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if failed { return }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // Once this handler has answered (the parser failed after the application had
        // the request head but before it answered), the application's own answer must not
        // follow: the client gets exactly one response and the connection closes.
        if failed {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        switch unwrapOutboundIn(data) {
        case .head(let head): responseInFlight = head.status.code >= 200 // not after `100 Continue`
        case .end: responseInFlight = false
        case .body: break
        }
        context.write(data, promise: promise)
    }
}

/// Audit records for requests refused below the pipeline (by the HTTP parser or the
/// head guard): every request the gateway answers has one, these too.
struct ConnectionRefusalAudit: Sendable {
    let runtime: GatewayRuntime

    func record(_ error: GatewayError, remote: SocketAddress?, httpVersion: String = "1.1") {
        var r = AuditRecord(time: RequestContext.timestamp(Date()), requestID: RequestID.next(), method: "-", path: "-",
                            decision: "deny", status: error.status)
        r.clientIP = remote?.ipAddress
        r.httpVersion = httpVersion
        r.reason = error.reason
        let audit = runtime.audit
        Task { await audit.append(r) }
    }
}

import FHIRGateAudit
import Foundation
