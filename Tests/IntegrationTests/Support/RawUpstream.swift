import Foundation
import NIOCore
import NIOPosix

/// An upstream that misbehaves at the byte level: after each request head it runs
/// `script` with the connection's writer (garbage, a reset mid-body, a trickle). The
/// well-behaved `SampleUpstream` cannot do these.
final class RawUpstream: @unchecked Sendable {
    typealias Writer = NIOAsyncChannelOutboundWriter<ByteBuffer>
    let port: Int
    private let server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>

    init(script: @escaping @Sendable (Writer, any Channel) async throws -> Void) async throws {
        server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
        port = server.channel.localAddress?.port ?? 0
        let server = self.server
        Task {
            await withDiscardingTaskGroup { group in
                try? await server.executeThenClose { inbound in
                    for try await connection in inbound {
                        group.addTask {
                            try? await connection.executeThenClose { reads, writer in
                                var head = ""
                                for try await chunk in reads {
                                    head += String(buffer: chunk)
                                    if head.contains("\r\n\r\n") {
                                        try await script(writer, connection.channel)
                                        return
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    func stop() async {
        try? await server.channel.close()
    }
}
