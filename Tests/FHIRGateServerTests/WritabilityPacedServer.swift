import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// An HTTP server that answers every request with `size` bytes, writing only while its
/// socket takes them (channel writability), so `sent` is what actually left the process:
/// an async writer would queue the whole body in memory when the reader is slow and the
/// count would say nothing about backpressure.
final class WritabilityPacedServer: Sendable {
    let channel: any Channel
    var port: Int { channel.localAddress!.port! }

    init(size: Int) async throws {
        let sentBox = SentCounter()
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.configureHTTPServerPipeline()
                    try child.pipeline.syncOperations.addHandler(PacedResponder(size: size, counter: sentBox))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        counter = sentBox
    }

    private let counter: SentCounter
    var bytesSent: Int { counter.value.load(ordering: .relaxed) }

    func close() { channel.close(promise: nil) }
}

final class SentCounter: Sendable {
    let value = Atomic<Int>(0)
}

private final class PacedResponder: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let size: Int
    let counter: SentCounter
    private var remaining = 0
    private let chunk = ByteBuffer(repeating: 0x41, count: 64 << 10)

    init(size: Int, counter: SentCounter) {
        self.size = size
        self.counter = counter
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Length", value: String(size))
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        remaining = size
        writeMore(context)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        writeMore(context)
        context.fireChannelWritabilityChanged()
    }

    private func writeMore(_ context: ChannelHandlerContext) {
        while remaining > 0, context.channel.isWritable {
            let n = min(remaining, chunk.readableBytes)
            remaining -= n
            counter.value.add(n, ordering: .relaxed)
            context.write(wrapOutboundOut(.body(.byteBuffer(chunk.getSlice(at: 0, length: n)!))), promise: nil)
            if remaining == 0 { context.write(wrapOutboundOut(.end(nil)), promise: nil) }
            context.flush()
        }
    }
}
