// The floor of FHIRGate's stack: a bare TLS reverse proxy written with the same parts the
// gateway uses (SwiftNIO's event loops and HTTP/1.1 codec, swift-nio-ssl), doing nothing
// but relay — no token, no policy, no rate limit, no audit, no response check. The load
// benchmark runs it next to nginx and HAProxy so that RESULTS.md can say how much of the
// gap to them is the stack itself and how much is what the gateway does on top.
//
//   NIOFloorProxy <listen-port> <upstream-port> <certificate.pem> <private-key.pem>
//
// Upstream keep-alive connections are pooled per event loop (as nginx's `keepalive`): a
// client connection takes one for its life and gives it back when it closes.
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

let arguments = CommandLine.arguments
guard arguments.count == 5, let listenPort = Int(arguments[1]), let upstreamPort = Int(arguments[2]) else {
    print("usage: NIOFloorProxy <listen-port> <upstream-port> <certificate.pem> <private-key.pem>")
    exit(2)
}
let tls = try NIOSSLContext(configuration: .makeServerConfiguration(
    certificateChain: try NIOSSLCertificate.fromPEMFile(arguments[3]).map { .certificate($0) },
    privateKey: .privateKey(try NIOSSLPrivateKey(file: arguments[4], format: .pem))))

/// Idle upstream connections of one event loop; used only on that loop.
final class UpstreamPool: @unchecked Sendable {
    var idle: [(Channel, UpstreamSide)] = []
}

let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
let pools: [ObjectIdentifier: UpstreamPool] = Dictionary(uniqueKeysWithValues: group.makeIterator().map { (ObjectIdentifier($0), UpstreamPool()) })

/// The client's side: collects a request, sends it upstream, relays the answer back.
final class ClientSide: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let upstreamPort: Int
    private var context: ChannelHandlerContext?
    private var upstream: (Channel, UpstreamSide)?
    private var pending: [HTTPClientRequestPart] = []

    init(upstreamPort: Int) { self.upstreamPort = upstreamPort }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            pending.append(.head(HTTPRequestHead(version: .http1_1, method: head.method, uri: head.uri, headers: head.headers)))
        case .body(let body):
            pending.append(.body(.byteBuffer(body)))
        case .end:
            pending.append(.end(nil))
            send(context: context)
        }
    }

    private func send(context: ChannelHandlerContext) {
        let pool = pools[ObjectIdentifier(context.eventLoop)]!
        while upstream == nil, let taken = pool.idle.popLast() {
            if taken.0.isActive {
                taken.1.client = self
                upstream = taken
            }
        }
        if let (channel, _) = upstream, channel.isActive {
            for part in pending { channel.write(part, promise: nil) }
            pending.removeAll(keepingCapacity: true)
            channel.flush()
            return
        }
        upstream = nil
        let me = NIOLoopBound(self, eventLoop: context.eventLoop)
        ClientBootstrap(group: context.eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(UpstreamSide(client: me.value))
                }
            }
            .connect(host: "127.0.0.1", port: upstreamPort)
            .whenComplete { result in
                let this = me.value
                guard let context = this.context else {
                    if case .success(let channel) = result { channel.close(promise: nil) }
                    return
                }
                switch result {
                case .success(let channel):
                    let side = try! channel.pipeline.syncOperations.handler(type: UpstreamSide.self)
                    this.upstream = (channel, side)
                    this.send(context: context)
                case .failure:
                    this.pending.removeAll()
                    this.relay(.head(HTTPResponseHead(version: .http1_1, status: .badGateway, headers: ["Content-Length": "0"])))
                    this.relay(.end(nil))
                }
            }
    }

    /// Called by the upstream's handler, on the same event loop.
    func relay(_ part: HTTPClientResponsePart) {
        guard let context else { return }
        switch part {
        case .head(let head):
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: head.status, headers: head.headers))), promise: nil)
        case .body(let body):
            // Flushed as it comes (the TLS handler holds unflushed writes where the
            // channel's writability does not see them); a large body stops the upstream
            // reads while the client's socket is full.
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            if !context.channel.isWritable { upstream?.0.setOption(.autoRead, value: false).whenComplete { _ in } }
        case .end(let trailers):
            context.writeAndFlush(wrapOutboundOut(.end(trailers)), promise: nil)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { upstream?.0.setOption(.autoRead, value: true).whenComplete { _ in } }
        context.fireChannelWritabilityChanged()
    }

    func upstreamClosed() { upstream = nil }

    /// The upstream connection goes back to the loop's pool if it is between responses.
    func channelInactive(context: ChannelHandlerContext) {
        if let (channel, side) = upstream {
            if pending.isEmpty, !side.inResponse, channel.isActive {
                side.client = nil
                channel.setOption(.autoRead, value: true).whenComplete { _ in }
                pools[ObjectIdentifier(context.eventLoop)]!.idle.append((channel, side))
            } else {
                channel.close(promise: nil)
            }
        }
        upstream = nil
        self.context = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}

/// The upstream connection's side: hands every response part to the client's handler.
final class UpstreamSide: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    var client: ClientSide?
    /// Between a response's head and its end (not reusable then).
    private(set) var inResponse = false

    init(client: ClientSide) { self.client = client }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch part {
        case .head: inResponse = true
        case .end: inResponse = false
        case .body: break
        }
        client?.relay(part)
    }

    func channelInactive(context: ChannelHandlerContext) { client?.upstreamClosed() }
    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}

let server = try ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 1024)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
            try channel.pipeline.syncOperations.configureHTTPServerPipeline()
            try channel.pipeline.syncOperations.addHandler(ClientSide(upstreamPort: upstreamPort))
        }
    }
    .bind(host: "127.0.0.1", port: listenPort).wait()
try server.closeFuture.wait()
