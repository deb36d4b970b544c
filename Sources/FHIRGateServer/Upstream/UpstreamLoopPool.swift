import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A route's upstream connections on one event loop. Used only on that loop, so taking
/// and returning a connection needs no lock and no thread hop.
final class UpstreamLoopPool {
    private let loop: any EventLoop
    private let origin: UpstreamOrigin
    private let tls: NIOSSLContext?
    private let connectTimeout: TimeAmount
    private let readTimeout: TimeAmount
    private let maxConnections: Int
    /// A connection idle this long is closed rather than reused: the upstream may be
    /// closing it at this very moment (its keep-alive timeout).
    private let staleAfter = TimeAmount.seconds(20)

    private var idle: [UpstreamConnectionHandler] = []
    private var open = 0
    private var shutDown = false
    private struct Waiter {
        let id: Int
        let head: HTTPRequestHead
        let body: ByteBuffer?
        let deadline: NIODeadline
        let promise: EventLoopPromise<UpstreamResponse>
    }
    private var waiters: [Waiter] = []
    private var nextWaiter = 0

    init(loop: any EventLoop, origin: UpstreamOrigin, tls: NIOSSLContext?, connectTimeout: TimeAmount, readTimeout: TimeAmount,
         maxConnections: Int) {
        self.loop = loop
        self.origin = origin
        self.tls = tls
        self.connectTimeout = connectTimeout
        self.readTimeout = readTimeout
        self.maxConnections = maxConnections
    }

    /// Sends the request on an idle connection, a new one, or the next one freed (when
    /// `maxConnections` are busy).
    func execute(_ head: HTTPRequestHead, body: ByteBuffer?, deadline: NIODeadline) -> EventLoopFuture<UpstreamResponse> {
        if shutDown { return loop.makeFailedFuture(UpstreamError.shutDown) }
        let now = NIODeadline.now()
        while let connection = idle.popLast() {
            if connection.isUsable, connection.idleSince + staleAfter > now,
               let response = connection.execute(head, body: body, deadline: deadline, keepAlive: true) {
                return response
            }
            connection.discard()
        }
        let promise = loop.makePromise(of: UpstreamResponse.self)
        if open < maxConnections {
            connect(head, body: body, deadline: deadline, promise: promise)
        } else {
            nextWaiter += 1
            let id = nextWaiter
            waiters.append(Waiter(id: id, head: head, body: body, deadline: deadline, promise: promise))
            loop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: deadline) { [weak self] in
                guard let self, let index = self.waiters.firstIndex(where: { $0.id == id }) else { return }
                self.waiters.remove(at: index).promise.fail(UpstreamError.timeout)
            }
        }
        return promise.futureResult
    }

    private func connect(_ head: HTTPRequestHead, body: ByteBuffer?, deadline: NIODeadline, promise: EventLoopPromise<UpstreamResponse>) {
        open += 1
        let handler = UpstreamConnectionHandler(readTimeout: readTimeout)
        handler.onReusable = { [weak self] connection in self?.release(connection) }
        handler.onClosed = { [weak self] _ in self?.connectionClosed() }
        let bound = NIOLoopBound(handler, eventLoop: loop)
        let tls = self.tls
        let origin = self.origin
        ClientBootstrap(group: loop)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let tls {
                        try sync.addHandler(NIOSSLClientHandler(context: tls, serverHostname: origin.hostIsAddress ? nil : origin.host))
                    }
                    try sync.addHTTPClientHandlers()
                    try sync.addHandler(bound.value)
                }
            }
            .connect(host: origin.host, port: origin.port)
            .assumeIsolatedUnsafeUnchecked()
            .whenComplete { result in
                switch result {
                case .success:
                    if let response = handler.execute(head, body: body, deadline: deadline, keepAlive: true) {
                        response.cascade(to: promise)
                    } else {
                        promise.fail(UpstreamError.connectionFailed)
                    }
                case .failure(let error):
                    handler.discard()
                    promise.fail(Self.connectError(error))
                }
            }
    }

    static func connectError(_ error: any Error) -> UpstreamError {
        if let channelError = error as? ChannelError, case .connectTimeout = channelError { return .connectTimeout }
        return .unreachable
    }

    /// An exchange ended with the connection reusable: the next waiter's, or idle.
    private func release(_ connection: UpstreamConnectionHandler) {
        if shutDown {
            connection.discard()
            return
        }
        if let waiter = waiters.first {
            if let response = connection.execute(waiter.head, body: waiter.body, deadline: waiter.deadline, keepAlive: true) {
                waiters.removeFirst()
                response.cascade(to: waiter.promise)
            } else {
                connection.discard() // the freed slot goes to the waiter (connectionClosed)
            }
            return
        }
        connection.idleSince = .now()
        idle.append(connection)
    }

    private func connectionClosed() {
        open -= 1
        idle.removeAll { !$0.isUsable }
        // A freed slot goes to the longest waiter.
        if !shutDown, open < maxConnections, !waiters.isEmpty {
            let waiter = waiters.removeFirst()
            connect(waiter.head, body: waiter.body, deadline: waiter.deadline, promise: waiter.promise)
        }
    }

    func shutdown() {
        shutDown = true
        for waiter in waiters { waiter.promise.fail(UpstreamError.shutDown) }
        waiters.removeAll()
        let closing = idle
        idle.removeAll()
        for connection in closing { connection.discard() }
    }
}
