import CHiredis
import NIOCore
import NIOPosix

/// One non-blocking connection to Redis: commands formatted by hiredis, replies parsed by
/// hiredis's reader inside the NIO pipeline, many commands in flight at once.
public final class RedisConnection: Sendable {
    let channel: any Channel

    init(channel: any Channel) {
        self.channel = channel
    }

    /// Connects, then authenticates and selects the database from the URL.
    public static func connect(_ url: RedisURL, group: any EventLoopGroup, timeout: TimeAmount = .seconds(1)) async throws -> RedisConnection {
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
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
        let loop = channel.eventLoop
        var futures: [EventLoopFuture<RESPValue>] = []
        var buffers: [(ByteBuffer, EventLoopPromise<RESPValue>)] = []
        for command in commands {
            let promise = loop.makePromise(of: RESPValue.self)
            buffers.append((channel.allocator.buffer(bytes: RedisCommandFormatter.format(command)), promise))
            futures.append(promise.futureResult)
        }
        for (bytes, promise) in buffers { channel.write((bytes, promise), promise: nil) }
        channel.flush()
        let all = EventLoopFuture.whenAllSucceed(futures, on: loop)
        let deadline = loop.scheduleTask(in: timeout) { [channel] in
            // A reply that does not come in time poisons the connection: close it so
            // every waiter fails now instead of waiting.
            channel.close(promise: nil)
        }
        defer { deadline.cancel() }
        do {
            return try await all.get()
        } catch RedisError.connectionClosed where !channel.isActive {
            throw RedisError.timeout
        }
    }

    public func close() async {
        try? await channel.close()
    }
}
