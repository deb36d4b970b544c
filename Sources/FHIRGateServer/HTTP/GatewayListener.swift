import FHIRGateCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// Binds the public listener and hands each connection to `HTTPConnection`.
/// Connections over the caps are closed on accept, before TLS.
/// Channel pipeline per connection: TLS → head guard (size, timeouts) → HTTP/1.1 codec
/// with pipelining assistance → protocol-error answers → exchange observer → async channel.
struct GatewayListener {
    let runtime: GatewayRuntime
    let registry: ConnectionRegistry

    typealias Server = NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>

    func bind() async throws -> Server {
        let snapshot = runtime.snapshot
        let listen = snapshot.config.server.listen
        let runtime = self.runtime
        return try await ServerBootstrap(group: runtime.group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .bind(host: listen.host, port: listen.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Read per connection: a reload's new certificate and limits apply to new connections.
                    let current = runtime.snapshot
                    let limits = current.config.server.limits
                    let ip = channel.remoteAddress?.ipAddress ?? "-"
                    guard runtime.admission.admit(ip: ip, maxTotal: limits.maxConnections, maxPerIP: limits.maxConnectionsPerIP) else {
                        runtime.metrics.connectionRefused()
                        channel.close(promise: nil) // nothing was read from it
                        throw ConnectionRefused()
                    }
                    channel.closeFuture.whenComplete { _ in runtime.admission.release(ip: ip) }
                    let sync = channel.pipeline.syncOperations
                    if let ssl = current.sslContext {
                        try sync.addHandler(NIOSSLServerHandler(context: ssl))
                    }
                    let headGuard = RequestHeadGuard(maxHeaderBytes: limits.maxHeaderBytes,
                                                     headerTimeout: .milliseconds(Int64(limits.headerTimeoutSeconds * 1000)),
                                                     idleTimeout: .milliseconds(Int64(limits.idleTimeoutSeconds * 1000)),
                                                     bodyTimeout: .milliseconds(Int64(limits.bodyTimeoutSeconds * 1000)),
                                                     audit: ConnectionRefusalAudit(runtime: runtime))
                    try sync.addHandler(headGuard)
                    try sync.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: false)
                    try sync.addHandler(ProtocolErrorHandler(audit: ConnectionRefusalAudit(runtime: runtime)))
                    try sync.addHandler(ExchangeObserver(headGuard: headGuard))
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                }
            }
    }

    /// Accepts connections until the server channel closes, then waits for the open
    /// connections to finish. The accept loop's end (an error when the channel is closed
    /// for a drain) must not cancel the connections still serving requests.
    func serve(_ server: Server) async {
        await withDiscardingTaskGroup { group in
            do {
                try await server.executeThenClose { inbound in
                    for try await connection in inbound {
                        group.addTask {
                            await HTTPConnection(channel: connection, runtime: runtime, registry: registry).run()
                        }
                    }
                }
            } catch {
                runtime.logger.debug("listener closed: \(error)")
            }
        }
    }
}
