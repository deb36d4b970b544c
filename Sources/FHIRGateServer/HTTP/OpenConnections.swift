import NIOCore
import Synchronization

/// The accepted connections not yet finished (closed, with no exchange still finishing
/// its response and audit record): what a drain waits for before the process exits.
/// A counter, not a task per connection: the accept path is on every new connection.
final class OpenConnections: Sendable {
    private struct State {
        var count = 0
        var listenerClosed = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// A connection was accepted; it is counted until `served` completes (either way).
    func track(_ served: EventLoopFuture<Void>) {
        state.withLock { $0.count += 1 }
        served.whenComplete { _ in self.finished() }
    }

    private func finished() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.count -= 1
            guard s.count == 0, s.listenerClosed else { return [] }
            defer { s.waiters.removeAll() }
            return s.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once `listener` is closed and every connection it accepted has finished.
    func allFinished(after listener: EventLoopFuture<Void>) async {
        try? await listener.get()
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                s.listenerClosed = true
                if s.count == 0 { return true }
                s.waiters.append(waiter)
                return false
            }
            if now { waiter.resume() }
        }
    }
}
