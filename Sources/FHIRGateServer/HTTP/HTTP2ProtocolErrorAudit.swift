import FHIRGateCore
import NIOCore
import NIOHTTP2

/// Records the requests NIOHTTP2 refuses before any stream handler sees them (an invalid
/// header block, a content-length that does not match the DATA, a missing
/// pseudo-header: answered with RST_STREAM or GOAWAY): every request the gateway turns
/// away has an audit record, as the HTTP/1.1 parser's refusals do (`ProtocolErrorHandler`).
final class HTTP2ProtocolErrorAudit: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame

    private let audit: ConnectionRefusalAudit

    init(audit: ConnectionRefusalAudit) {
        self.audit = audit
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is any NIOHTTP2Error {
            audit.record(.malformedRequest(reason: "h2_protocol_error"), remote: context.channel.remoteAddress, httpVersion: "2")
        }
        context.fireErrorCaught(error)
    }
}
