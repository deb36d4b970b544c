import NIOCore
import NIOHTTP1

/// Serves the one request of an HTTP/2 stream through the same exchange (phases, limits,
/// audit record) as an HTTP/1.1 request.
struct HTTP2Stream {
    let channel: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>
    let runtime: GatewayRuntime
    let registry: ConnectionRegistry
    let peer: RequestExchange.Peer

    func run() async {
        let exchange = RequestExchange(runtime: runtime, registry: registry, peer: peer, viaHTTP2: true, loop: channel.channel.eventLoop)
        do {
            try await channel.executeThenClose { inbound, outbound in
                var parts = inbound.makeAsyncIterator()
                var bodyUnread = false
                if case .head(let head) = try await parts.next() {
                    var collector = RequestBodyCollector(head: head, maxBytes: runtime.snapshot.config.server.limits.maxBodyBytes)
                    if collector.refusal == nil {
                        loop: while let part = try await parts.next() {
                            switch part {
                            case .body(var chunk): if !collector.append(&chunk) { break loop }
                            case .end: break loop
                            case .head: return
                            }
                        }
                    }
                    bodyUnread = await exchange.serve(head: head, body: collector.body, refusal: collector.refusal, to: outbound).bodyUnread
                }
                // The writes above are queued, not yet sent (HTTP/2 flow control): closing
                // the stream now would reset it (CANCEL) and lose the response's end. The
                // stream closes itself once both sides have ended; a client that stops
                // reading, or is still sending a refused body, is reset after a grace time.
                let stream = channel.channel
                let grace = stream.eventLoop.scheduleTask(in: bodyUnread ? .milliseconds(500) : .seconds(10)) { stream.close(promise: nil) }
                try? await stream.closeFuture.get()
                grace.cancel()
            }
        } catch {
            runtime.logger.debug("stream closed: \(error)")
        }
    }
}
