import NIOCore
import NIOHTTP1
import NIOPosix

public typealias HTTPConnectionChannel = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

/// Binds an HTTP/1.1 server on a free loopback port and hands each connection to `serve`.
/// Every accepted connection is consumed (NIO traps on one dropped unconsumed), and the
/// accept loop ending never cancels connections being answered.
public func startLoopbackHTTPServer(_ serve: @escaping @Sendable (HTTPConnectionChannel) async throws -> Void) async throws -> (port: Int, channel: any Channel) {
    let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .bind(host: "127.0.0.1", port: 0) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                return try HTTPConnectionChannel(wrappingChannelSynchronously: channel)
            }
        }
    let port = server.channel.localAddress!.port!
    let channel = server.channel
    Task {
        await withDiscardingTaskGroup { group in
            try? await server.executeThenClose { inbound in
                for try await connection in inbound { group.addTask { try? await serve(connection) } }
            }
        }
    }
    return (port, channel)
}
