import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL

/// An HTTP/2 client that sends one GET and then never reads the answer: its stream's
/// flow-control window stays shut once the first 64 KB have arrived (the stream channel
/// has auto-read off, so no WINDOW_UPDATE is ever sent).
final class StalledHTTP2Client: Sendable {
    let connection: any Channel

    init(port: Int, caPEM: String, path: String, token: String) async throws {
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
        self.connection = connection
        let multiplexer = try await connection.eventLoop.submit {
            try connection.pipeline.syncOperations.configureHTTP2Pipeline(mode: .client, connectionConfiguration: .init(),
                                                                           streamConfiguration: .init()) { $0.eventLoop.makeSucceededVoidFuture() }
        }.get()
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
