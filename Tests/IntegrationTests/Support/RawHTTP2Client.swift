import NIOCore
import NIOHPACK
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL

/// A TLS connection to the gateway that speaks HTTP/2 through NIOHTTP2 directly, for
/// what a well-behaved client (AsyncHTTPClient) never does.
func connectRawHTTP2(port: Int, caPEM: String, configuration: NIOHTTP2Handler.ConnectionConfiguration = .init()) async throws
    -> (connection: any Channel, multiplexer: NIOHTTP2Handler.StreamMultiplexer) {
    var tls = TLSConfiguration.makeClientConfiguration()
    tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(caPEM.utf8)))
    tls.applicationProtocols = ["h2"]
    let context = try NIOSSLContext(configuration: tls)
    let connection = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: "localhost"))
            }
        }
        .connect(host: "127.0.0.1", port: port).get()
    let multiplexer = try await connection.eventLoop.submit {
        try connection.pipeline.syncOperations.configureHTTP2Pipeline(mode: .client, connectionConfiguration: configuration,
                                                                       streamConfiguration: .init()) { $0.eventLoop.makeSucceededVoidFuture() }
    }.get()
    return (connection, multiplexer)
}

/// An HTTP/2 client that sends one GET and then never reads the answer: its stream's
/// flow-control window stays shut once the first 64 KB have arrived (the stream channel
/// has auto-read off, so no WINDOW_UPDATE is ever sent).
final class StalledHTTP2Client: Sendable {
    let connection: any Channel

    init(port: Int, caPEM: String, path: String, token: String) async throws {
        let (connection, multiplexer) = try await connectRawHTTP2(port: port, caPEM: caPEM)
        self.connection = connection
        let stream = try await multiplexer.createStreamChannel { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.syncOptions?.setOption(ChannelOptions.autoRead, value: false)
                try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ClientCodec(httpProtocol: .https))
            }
        }.get()
        var headers = HTTPHeaders()
        headers.add(name: "host", value: "localhost:\(port)")
        headers.add(name: "authorization", value: "Bearer \(token)")
        let head = HTTPClientRequestPart.head(HTTPRequestHead(version: .http2, method: .GET, uri: path, headers: headers))
        stream.write(head, promise: nil)
        try await stream.writeAndFlush(HTTPClientRequestPart.end(nil))
    }

    func close() async {
        try? await connection.close()
    }
}

/// Sends one HEADERS frame exactly as given (the client's own header checks off), for
/// header blocks a well-behaved HTTP/2 client would never send; returns once the server
/// has reset the stream (true) or answered it (false).
func sendRawHTTP2Headers(port: Int, caPEM: String, headers: [(String, String)], timeout: Duration = .seconds(3)) async throws -> Bool {
    var configuration = NIOHTTP2Handler.ConnectionConfiguration()
    configuration.headerBlockValidation = .disabled
    let (connection, multiplexer) = try await connectRawHTTP2(port: port, caPEM: caPEM, configuration: configuration)
    defer { connection.close(promise: nil) }
    let reset = connection.eventLoop.makePromise(of: Bool.self)
    let stream = try await multiplexer.createStreamChannel { stream in
        stream.eventLoop.makeCompletedFuture {
            try stream.pipeline.syncOperations.addHandler(ResetWatcher(reset: reset))
        }
    }.get()
    let block = HPACKHeaders(headers)
    try await stream.writeAndFlush(HTTP2Frame.FramePayload.headers(.init(headers: block, endStream: true)))
    let timer = connection.eventLoop.scheduleTask(in: .milliseconds(timeout.components.seconds * 1000)) { reset.fail(CancellationError()) }
    defer { timer.cancel() }
    return try await reset.futureResult.get()
}

/// Completes `reset` with false when the server answers (response HEADERS), with true
/// when it resets the stream (RST_STREAM, or the stream ends unanswered).
private final class ResetWatcher: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    let reset: EventLoopPromise<Bool>
    private var done = false

    init(reset: EventLoopPromise<Bool>) {
        self.reset = reset
    }

    private func finish(_ wasReset: Bool) {
        guard !done else { return }
        done = true
        reset.succeed(wasReset)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .headers: finish(false)
        case .rstStream: finish(true)
        default: break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(true) // NIOHTTP2 reports a reset to the stream as an error
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(true)
        context.fireChannelInactive()
    }
}
