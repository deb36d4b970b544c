import Synchronization

/// Caps open client connections in all and per client IP, so thousands of idle or slow
/// connections from a few addresses cannot take every file descriptor. Checked when a
/// connection is accepted, before TLS; released when it closes. Lives for the process
/// (reloads change the caps for new connections, not the counts).
final class ConnectionAdmission: Sendable {
    private let state = Mutex<(total: Int, perIP: [String: Int])>((0, [:]))

    /// Counts the connection in, or says no (the caller closes it at once).
    func admit(ip: String, maxTotal: Int, maxPerIP: Int) -> Bool {
        state.withLock { s in
            let fromIP = s.perIP[ip, default: 0]
            guard s.total < maxTotal, fromIP < maxPerIP else { return false }
            s.total += 1
            s.perIP[ip] = fromIP + 1
            return true
        }
    }

    func release(ip: String) {
        state.withLock { s in
            s.total -= 1
            let left = s.perIP[ip, default: 1] - 1
            s.perIP[ip] = left > 0 ? left : nil
        }
    }

    var open: Int { state.withLock { $0.total } }
}

struct ConnectionRefused: Error {}
