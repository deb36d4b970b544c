import CHiredis
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// One non-blocking connection to Redis: commands formatted by hiredis, replies parsed by
/// hiredis's reader inside the NIO pipeline, many commands in flight at once.
public final class RedisConnection: Sendable {
    let channel: any Channel

    init(channel: any Channel) {
        self.channel = channel
    }

    /// Connects, then authenticates and selects the database from the URL.
    public static func connect(_ url: RedisURL, group: any EventLoopGroup, timeout: TimeAmount = .seconds(1),
                               tls: TLSConfiguration = .makeClientConfiguration()) async throws -> RedisConnection {
        // rediss://: TLS with the system trust roots (or the given configuration).
        let sslContext = url.tls ? try NIOSSLContext(configuration: tls) : nil
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        let serverName = url.host.first?.isNumber == true ? nil : url.host
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: sslContext, serverHostname: serverName))
                    }
                    try channel.pipeline.syncOperations.addHandler(RESPReplyDecoder())
                    try channel.pipeline.syncOperations.addHandler(RedisPipelineHandler())
                }
            }
            .connect(host: url.host, port: url.port).get()
        let connection = RedisConnection(channel: channel)
        if let password = url.password {
            let args = url.user.map { ["AUTH", $0, password] } ?? ["AUTH", password]
            if case .error(let e) = try await connection.send(args, timeout: timeout) { throw RedisError.server(e) }
        }
        if url.database != 0 {
            if case .error(let e) = try await connection.send(["SELECT", String(url.database)], timeout: timeout) { throw RedisError.server(e) }
        }
        return connection
    }

    public var isActive: Bool { channel.isActive }

    /// Sends one command; the reply (which may be `.error`) or a failure.
    public func send(_ arguments: [String], timeout: TimeAmount) async throws -> RESPValue {
        try await sendPipelined([arguments], timeout: timeout)[0]
    }

    /// Sends several commands in one write; replies in the same order.
    public func sendPipelined(_ commands: [[String]], timeout: TimeAmount) async throws -> [RESPValue] {
        guard channel.isActive else { throw RedisError.connectionClosed }
        var bytes = channel.allocator.buffer(capacity: 256)
        for command in commands { bytes.writeBytes(RedisCommandFormatter.format(command)) }
        let replies = channel.eventLoop.makePromise(of: [RESPValue].self)
        let batch = RedisBatch(bytes: bytes, count: commands.count, replies: replies, deadline: .now() + timeout)
        // A write that never reaches the pipeline (channel closed meanwhile) must still
        // complete the reply promise, or its caller would wait forever.
        channel.writeAndFlush(batch).whenFailure { replies.fail($0) }
        return try await replies.futureResult.get()
    }

    public func close() async {
        try? await channel.close()
    }
}
