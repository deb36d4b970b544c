import NIOCore
import Synchronization

/// The open client connections and whether each is in the middle of a request, so a
/// drain can close idle ones at once and wait for busy ones.
final class ConnectionRegistry: Sendable {
    private struct Entry {
        let channel: any Channel
        var busy: Bool
    }

    private let state = Mutex<(next: Int, entries: [Int: Entry], draining: Bool)>((0, [:], false))

    func register(_ channel: any Channel) -> Int {
        state.withLock { s in
            s.next += 1
            s.entries[s.next] = Entry(channel: channel, busy: false)
            return s.next
        }
    }

    func remove(_ id: Int) {
        state.withLock { _ = $0.entries.removeValue(forKey: id) }
    }

    /// Marks a connection busy; false when draining (the request is still served).
    func setBusy(_ id: Int, _ busy: Bool) {
        let closeNow: (any Channel)? = state.withLock { s in
            s.entries[id]?.busy = busy
            return (!busy && s.draining) ? s.entries[id]?.channel : nil
        }
        closeNow?.close(promise: nil)
    }

    var count: Int { state.withLock { $0.entries.count } }

    var isDraining: Bool { state.withLock { $0.draining } }

    /// Starts a drain: idle connections close now, busy ones after their response.
    func drain() {
        let idle = state.withLock { s -> [any Channel] in
            s.draining = true
            return s.entries.values.filter { !$0.busy }.map(\.channel)
        }
        for channel in idle { channel.close(promise: nil) }
    }

    func closeAll() {
        let all = state.withLock { $0.entries.values.map(\.channel) }
        for channel in all { channel.close(promise: nil) }
    }
}
