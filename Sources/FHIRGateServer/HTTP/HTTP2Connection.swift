import NIOCore
import NIOHTTP2
import NIOSSL
import Synchronization

/// Serves one HTTP/2 connection: each stream the client opens is one request, served by
/// `HTTP2Stream` (the same phases, limits and audit record as HTTP/1.1) concurrently
/// with the connection's other streams. The connection counts as busy for a drain while
/// any stream is open.
struct HTTP2Connection {
    let channel: any Channel
    let streams: GatewayListener.HTTP2Streams
    let runtime: GatewayRuntime
    let registry: ConnectionRegistry

    func run() async {
        let id = registry.register(channel)
        defer { registry.remove(id) }
        let peer = RequestExchange.Peer(clientIP: channel.remoteAddress?.ipAddress,
                                       tlsVersion: (try? await channel.nioSSL_tlsVersion().get()).map(RequestExchange.describe))
        let open = OpenStreams()
        let registry = self.registry
        let runtime = self.runtime
        await withDiscardingTaskGroup { group in
            do {
                for try await stream in streams.inbound {
                    if open.count.add(1, ordering: .relaxed).newValue == 1 { registry.setBusy(id, true) }
                    group.addTask {
                        await HTTP2Stream(channel: stream, runtime: runtime, registry: registry, peer: peer).run()
                        if open.count.subtract(1, ordering: .relaxed).newValue == 0 { registry.setBusy(id, false) }
                    }
                }
            } catch {
                runtime.logger.debug("HTTP/2 connection closed: \(error)")
            }
        }
    }
}

private final class OpenStreams: Sendable {
    let count = Atomic<Int>(0)
}
