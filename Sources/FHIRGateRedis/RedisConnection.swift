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
        let loop = channel.eventLoop
        var futures: [EventLoopFuture<RESPValue>] = []
        for command in commands {
            let promise = loop.makePromise(of: RESPValue.self)
            let bytes = channel.allocator.buffer(bytes: RedisCommandFormatter.format(command))
            // A write that never reaches the pipeline (channel closed meanwhile) must still
            // complete the reply promise, or its caller would wait forever.
            channel.write((bytes, promise)).whenFailure { error in promise.fail(error) }
            futures.append(promise.futureResult)
        }
        channel.flush()
        // The answer is whichever comes first: all replies, or the deadline. Exactly one
        // completes `result`.
        let result = loop.makePromise(of: [RESPValue].self)
        let done = NIOLockedValueBox(false)
        let deadline = loop.scheduleTask(in: timeout) { [channel] in
            guard done.withLockedValue({ d in defer { d = true }; return !d }) else { return }
            result.fail(RedisError.timeout)
            // A reply that does not come in time poisons the connection.
            channel.close(promise: nil)
        }
        EventLoopFuture.whenAllSucceed(futures, on: loop).whenComplete { outcome in
            guard done.withLockedValue({ d in defer { d = true }; return !d }) else { return }
            deadline.cancel()
            result.completeWith(outcome)
        }
        return try await result.futureResult.get()
    }

    public func close() async {
        try? await channel.close()
    }
}
