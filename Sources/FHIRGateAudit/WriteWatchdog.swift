import Foundation
import Synchronization

/// Resumes `appendAndWait` callers with `false` once their deadline passes, from one
/// thread that ticks every 50 ms while any waiter is pending, so the hot path pays a
/// lock and an array append per record instead of a timer (a `DispatchQueue.asyncAfter`
/// per request cost more than writing the record). Written records leave the watch list
/// on the next tick.
final class WriteWatchdog: Sendable {
    private struct State {
        var watched: [AuditWriter.WriteNotice] = []
        var started = false
        var idle = false
    }

    private let state = Mutex(State())
    private let wake = NSCondition()
    static let tick: TimeInterval = 0.05

    func watch(_ notice: AuditWriter.WriteNotice) {
        let (start, signal) = state.withLock { s -> (Bool, Bool) in
            s.watched.append(notice)
            defer { s.started = true; s.idle = false }
            return (!s.started, s.idle)
        }
        if start {
            // Weak: the thread ends (within a minute) once its writer is gone.
            let t = Thread { [weak self] in
                while let watchdog = self { watchdog.step() }
            }
            t.name = "fhirgate-audit-watchdog"
            t.start()
        } else if signal {
            wake.lock()
            wake.signal()
            wake.unlock()
        }
    }

    /// One tick: expire overdue waiters; with nothing left to watch, sleep until `watch`
    /// signals (or a minute passes).
    private func step() {
        Thread.sleep(forTimeInterval: Self.tick)
        let now = ContinuousClock.now
        let expired = state.withLock { s -> [AuditWriter.WriteNotice] in
            var expired: [AuditWriter.WriteNotice] = []
            s.watched.removeAll { notice in
                guard notice.isPending else { return true }
                if notice.deadline <= now {
                    expired.append(notice)
                    return true
                }
                return false
            }
            return expired
        }
        for notice in expired { notice.resume(false) }
        wake.lock()
        if state.withLock({ s in
            s.idle = s.watched.isEmpty
            return s.idle
        }) {
            _ = wake.wait(until: Date().addingTimeInterval(60))
        }
        wake.unlock()
    }
}
