import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A route's HTTP/1.1 client for its upstream: keep-alive connections pooled per event
/// loop, a request sent from the loop its client connection is served on.
///
/// Why not AsyncHTTPClient (which the gateway used before): its pool is shared by all
/// loops behind a lock, each request hops between the caller's loop and the
/// connection's, and a request passes several state machines; the profile put it at
/// ~15 % of a small request's CPU. A reverse proxy needs one origin, HTTP/1.1, no
/// redirects, no decompression and streaming with backpressure: this does just that.
/// AsyncHTTPClient stays for JWKS and introspection calls (not on the hot path).
final class UpstreamClient: Sendable {
    let origin: UpstreamOrigin
    private let pools: [ObjectIdentifier: NIOLoopBoundBox<UpstreamLoopPool>]
    private let group: any EventLoopGroup

    /// Idle and busy connections per event loop (the default); more requests wait for a
    /// free one, as AsyncHTTPClient's soft limit of 64 per host made them.
    static let defaultMaxConnectionsPerLoop = 64

    init(origin: UpstreamOrigin, tls: TLSConfiguration?, connectTimeout: TimeAmount, readTimeout: TimeAmount,
         group: any EventLoopGroup, maxConnectionsPerLoop: Int = defaultMaxConnectionsPerLoop) throws {
        self.origin = origin
        self.group = group
        let context = try (origin.useTLS ? tls ?? .makeClientConfiguration() : nil).map { try NIOSSLContext(configuration: $0) }
        var pools: [ObjectIdentifier: NIOLoopBoundBox<UpstreamLoopPool>] = [:]
        for loop in group.makeIterator() {
            let pool = UpstreamLoopPool(loop: loop, origin: origin, tls: context, connectTimeout: connectTimeout, readTimeout: readTimeout,
                                        maxConnections: maxConnectionsPerLoop)
            pools[ObjectIdentifier(loop)] = NIOLoopBoundBox.makeBoxSendingValue(pool, eventLoop: loop)
        }
        self.pools = pools
    }

    /// Sends `request`; the response head must arrive within `timeout`, and then each
    /// body chunk within the read timeout of the one before (while the body is consumed).
    func execute(_ request: UpstreamRequest, timeout: TimeAmount) async throws(UpstreamError) -> UpstreamResponse {
        guard let target = origin.target(of: request.url) else { throw .foreignOrigin }
        var headers = request.headers
        headers.replaceOrAdd(name: "Host", value: origin.hostHeader)
        if let body = request.body {
            headers.replaceOrAdd(name: "Content-Length", value: String(body.readableBytes))
        } else if request.method == .POST || request.method == .PUT || request.method == .PATCH {
            headers.replaceOrAdd(name: "Content-Length", value: "0")
        }
        let head = HTTPRequestHead(version: .http1_1, method: request.method, uri: target, headers: headers)
        let deadline = NIODeadline.now() + timeout
        let body = request.body
        // The pool of the loop this task runs on (the client connection's, as a rule).
        let pool: NIOLoopBoundBox<UpstreamLoopPool>
        if let current = MultiThreadedEventLoopGroup.currentEventLoop, let own = pools[ObjectIdentifier(current)] {
            pool = own
        } else if let any = pools[ObjectIdentifier(group.next())] {
            pool = any
        } else {
            throw .shutDown
        }
        let loop = pool.eventLoop
        let response: EventLoopFuture<UpstreamResponse>
        if loop.inEventLoop {
            response = pool.value.execute(head, body: body, deadline: deadline)
        } else {
            response = loop.flatSubmit { pool.value.execute(head, body: body, deadline: deadline) }
        }
        do {
            return try await response.get()
        } catch let error as UpstreamError {
            throw error
        } catch {
            throw .connectionFailed
        }
    }

    /// Closes idle connections and refuses new requests; exchanges in flight finish.
    func shutdown() {
        for pool in pools.values {
            pool.eventLoop.execute { pool.value.shutdown() }
        }
    }
}
