import FHIRGateCore
import Foundation
import Synchronization

/// Verified tokens by the SHA-256 of their text, so a repeated token skips signature
/// verification. Bounded; an entry never outlives its token's `exp`, and a hit still
/// re-checks `exp`/`nbf` against the current time.
final class VerifiedTokenCache: Sendable {
    struct Entry: Sendable {
        let token: AccessToken
        let audiences: [String]
        let notBefore: Double?
        var lastUsed: UInt64
    }

    private let state: Mutex<(entries: [String: Entry], clock: UInt64)>
    let capacity: Int

    init(capacity: Int = 10_000) {
        self.capacity = capacity
        state = Mutex((entries: [:], clock: 0))
    }

    func get(_ key: String) -> Entry? {
        state.withLock { s in
            guard var e = s.entries[key] else { return nil }
            s.clock &+= 1
            e.lastUsed = s.clock
            s.entries[key] = e
            return e
        }
    }

    func put(_ key: String, _ entry: Entry) {
        state.withLock { s in
            if s.entries.count >= capacity {
                // Drop expired entries, then the least recently used eighth.
                let now = Date().timeIntervalSince1970
                s.entries = s.entries.filter { $0.value.token.expiresAt > now }
                if s.entries.count >= capacity {
                    let victims = s.entries.sorted { $0.value.lastUsed < $1.value.lastUsed }.prefix(max(1, capacity / 8))
                    for v in victims { s.entries.removeValue(forKey: v.key) }
                }
            }
            s.clock &+= 1
            var e = entry
            e.lastUsed = s.clock
            s.entries[key] = e
        }
    }

    var count: Int { state.withLock { $0.entries.count } }

    func removeAll() { state.withLock { $0.entries.removeAll() } }
}
