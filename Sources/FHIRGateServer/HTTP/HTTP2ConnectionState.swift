import NIOCore

/// One HTTP/2 connection as the drain sees it: registered once, busy while any of its
/// streams' exchanges runs; `closedAndIdle` completes once it is closed and the last of
/// them has finished (what the listener waits for before the process exits).
/// Event-loop confined: the connection and its streams share a loop.
final class HTTP2ConnectionState {
    private let registry: ConnectionRegistry
    private let id: Int
    private var running = 0
    private var closed = false
    private let finished: EventLoopPromise<Void>
    var closedAndIdle: EventLoopFuture<Void> { finished.futureResult }

    init(channel: any Channel, registry: ConnectionRegistry) {
        self.registry = registry
        id = registry.register(channel)
        finished = channel.eventLoop.makePromise()
        let this = NIOLoopBound(self, eventLoop: channel.eventLoop)
        channel.closeFuture.whenComplete { _ in this.value.connectionClosed() }
    }

    func exchangeStarted() {
        running += 1
        if running == 1 { registry.setBusy(id, true) }
    }

    func exchangeEnded() {
        running -= 1
        guard running == 0 else { return }
        if closed { finished.succeed() } else { registry.setBusy(id, false) } // closes it during a drain
    }

    private func connectionClosed() {
        closed = true
        registry.remove(id)
        if running == 0 { finished.succeed() }
    }
}
