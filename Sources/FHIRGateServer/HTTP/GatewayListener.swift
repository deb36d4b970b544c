import FHIRGateCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL

/// Binds the public listener and ends each connection's pipeline in `ExchangeHandler`s:
/// one for an HTTP/1.1 connection, one per stream of an HTTP/2 connection (ALPN `h2`).
/// Connections over the caps are closed on accept, before TLS.
/// HTTP/1.1 pipeline: TLS → head guard (size, timeouts) → HTTP/1.1 codec with pipelining
/// assistance → protocol-error answers → exchange observer → exchange handler.
/// HTTP/2 pipeline: TLS → NIOHTTP2 (header-list cap, stream limit, idle timeout) → per
/// stream: HTTP/2-to-HTTP/1 codec → exchange handler; every stream runs the same phases.
struct GatewayListener {
    let runtime: GatewayRuntime
    let registry: ConnectionRegistry
    let connections = OpenConnections()

    /// A connection is served by its handlers; the listener only counts it until it is
    /// closed with no exchange still finishing (a drain waits for that).
    typealias ServedConnection = EventLoopFuture<Void>

    /// Binds the listener. Accepted connections are set up by the child channel
    /// initializer, on their event loop: no async channel or task per connection (the
    /// accept loop's async sequence and a task per connection cost about as much as the
    /// channel set-up itself, on every new connection).
    func bind() async throws -> any Channel {
        let snapshot = runtime.snapshot
        let listen = snapshot.config.server.listen
        let runtime = self.runtime
        let registry = self.registry
        let connections = self.connections
        return try await ServerBootstrap(group: runtime.group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                // Read per connection: a reload's new certificate and limits apply to new connections.
                let current = runtime.snapshot
                let limits = current.config.server.limits
                let ip = channel.remoteAddress?.ipAddress ?? "-"
                guard runtime.admission.admit(ip: ip, maxTotal: limits.maxConnections, maxPerIP: limits.maxConnectionsPerIP) else {
                    runtime.metrics.connectionRefused()
                    channel.close(promise: nil) // nothing was read from it
                    return channel.eventLoop.makeFailedFuture(ConnectionRefused())
                }
                channel.closeFuture.whenComplete { _ in runtime.admission.release(ip: ip) }
                // The handlers are in place when this returns; the connection is counted
                // until it is served (or its set-up fails: it is closed then).
                connections.track(Self.configure(channel, snapshot: current, runtime: runtime, registry: registry))
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            .bind(host: listen.host, port: listen.port)
            .get()
    }

    /// Sets up a connection's pipeline: TLS, then HTTP/1.1 or (by ALPN) HTTP/2. The future
    /// completes once the connection is closed and its last exchange has finished, or
    /// fails if it was never set up (failed handshake or negotiation: it is closed).
    static func configure(_ channel: any Channel, snapshot current: GatewaySnapshot, runtime: GatewayRuntime,
                          registry: ConnectionRegistry) -> ServedConnection {
        let limits = current.config.server.limits
        do {
            if let ssl = current.sslContext { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: ssl)) }
            // HTTP/1.1 only (no TLS, or server.http2: false): no negotiation to wait for.
            if current.sslContext == nil || !current.config.server.http2 {
                return try Self.configureHTTP1(channel, limits: limits, runtime: runtime, registry: registry)
            }
        } catch {
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(error)
        }
        // Until ALPN has picked a protocol no head guard is in the pipeline: a client
        // that never finishes the TLS handshake is closed after the header timeout.
        let handshakeTimeout = channel.eventLoop.scheduleTask(in: .milliseconds(Int64(limits.headerTimeoutSeconds * 1000))) {
            channel.close(promise: nil)
        }
        let negotiation = channel.configureHTTP2AsyncSecureUpgrade(
            http1ConnectionInitializer: { channel in
                handshakeTimeout.cancel()
                return channel.eventLoop.makeCompletedFuture { try Self.configureHTTP1(channel, limits: limits, runtime: runtime, registry: registry) }
            },
            http2ConnectionInitializer: { channel in
                handshakeTimeout.cancel()
                return channel.eventLoop.makeCompletedFuture { try Self.configureHTTP2(channel, limits: limits, runtime: runtime, registry: registry) }
            }
        )
        return negotiation.flatMap { $0 }.flatMap { negotiated in
            switch negotiated {
            case .http1_1(let served), .http2(let served): served
            }
        }
    }

    static func configureHTTP1(_ channel: any Channel, limits: ServerSettings.Limits, runtime: GatewayRuntime,
                               registry: ConnectionRegistry) throws -> ServedConnection {
        let sync = channel.pipeline.syncOperations
        let headGuard = RequestHeadGuard(maxHeaderBytes: limits.maxHeaderBytes,
                                         headerTimeout: .milliseconds(Int64(limits.headerTimeoutSeconds * 1000)),
                                         idleTimeout: .milliseconds(Int64(limits.idleTimeoutSeconds * 1000)),
                                         bodyTimeout: .milliseconds(Int64(limits.bodyTimeoutSeconds * 1000)),
                                         sendTimeout: .milliseconds(Int64(limits.sendTimeoutSeconds * 1000)),
                                         audit: ConnectionRefusalAudit(runtime: runtime))
        try sync.addHandler(headGuard)
        try sync.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: false)
        try sync.addHandler(ProtocolErrorHandler(audit: ConnectionRefusalAudit(runtime: runtime)))
        try sync.addHandler(ExchangeObserver(headGuard: headGuard))
        let exchanges = ExchangeHandler(runtime: runtime, registry: registry, carrier: .http1, maxBodyBytes: limits.maxBodyBytes,
                                        eventLoop: channel.eventLoop)
        try sync.addHandler(exchanges)
        return exchanges.closedAndIdle!
    }

    /// NIOHTTP2 enforces the header-list size (HPACK-decoded), the stream limit, header
    /// validity and content-length against DATA; the connection manager closes idle
    /// connections and sends GOAWAY on a drain. Each stream the client opens gets an
    /// HTTP/2-to-HTTP/1 codec and an exchange handler.
    static func configureHTTP2(_ channel: any Channel, limits: ServerSettings.Limits, runtime: GatewayRuntime,
                               registry: ConnectionRegistry) throws -> ServedConnection {
        var configuration = NIOHTTP2Handler.Configuration()
        configuration.connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: 100),
            HTTP2Setting(parameter: .maxHeaderListSize, value: limits.maxHeaderBytes),
        ]
        let manager = NIOHTTP2ServerConnectionManagementHandler(
            eventLoop: channel.eventLoop,
            configuration: .init(maxIdleTime: .milliseconds(Int64(limits.idleTimeoutSeconds * 1000)), maxAge: nil, maxGraceTime: .seconds(30),
                                 keepalive: nil))
        // The handshake is done (ALPN chose h2): what every stream's audit record says of the client.
        let sync = channel.pipeline.syncOperations
        let version = (try? sync.nioSSL_tlsVersion()) ?? nil
        let peer = RequestExchange.Peer(clientIP: channel.remoteAddress?.ipAddress, tlsVersion: version.map(RequestExchange.describe))
        let connection = HTTP2ConnectionState(channel: channel, registry: registry)
        let bound = NIOLoopBound(connection, eventLoop: channel.eventLoop)
        let maxBody = limits.maxBodyBytes
        let timeouts = ExchangeHandler.StreamTimeouts(body: .milliseconds(Int64(limits.bodyTimeoutSeconds * 1000)),
                                                      send: .milliseconds(Int64(limits.sendTimeoutSeconds * 1000)))
        let handler = NIOHTTP2Handler(mode: .server, eventLoop: channel.eventLoop, connectionConfiguration: configuration.connection,
                                      streamConfiguration: configuration.stream, streamDelegate: manager.http2StreamDelegate) { stream in
            stream.eventLoop.makeCompletedFuture {
                let sync = stream.pipeline.syncOperations
                try sync.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
                try sync.addHandler(ExchangeHandler(runtime: runtime, registry: registry, carrier: .http2Stream(bound.value, peer, timeouts),
                                                    maxBodyBytes: maxBody, eventLoop: stream.eventLoop))
            }
        }
        try sync.addHandler(handler)
        try sync.addHandler(manager)
        try sync.addHandler(HTTP2ProtocolErrorAudit(audit: ConnectionRefusalAudit(runtime: runtime)))
        return connection.closedAndIdle
    }

    /// Returns once the listener is closed (a drain) and the connections it accepted
    /// have finished.
    func serve(_ server: any Channel) async {
        await connections.allFinished(after: server.closeFuture)
        runtime.logger.debug("listener closed")
    }
}
