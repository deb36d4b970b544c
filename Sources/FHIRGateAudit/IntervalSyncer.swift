import Foundation
import Synchronization

/// `fsync: interval`: flushes the audit file to disk once a second while records are
/// being written, from a thread of its own. The writer does not wait for it: a response
/// waits for its record to be written, and an fsync behind a busy disk takes tens to
/// hundreds of milliseconds, which every response in that second would otherwise wait
/// out too. At most about a second of records is only in the page cache.
final class IntervalSyncer: Sendable {
    /// Records were written since the last fsync.
    private let dirty = Atomic<Bool>(false)
    /// The open file's descriptor. Held during an fsync and while the writer swaps or
    /// closes the file, so a descriptor is never synced after it was closed.
    private let file = Mutex<Int32?>(nil)
    private let completed = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private let wake = NSCondition()
    private let interval: TimeInterval

    init(interval: TimeInterval = 1) {
        self.interval = interval
        let t = Thread { [self] in self.run() }
        t.name = "fhirgate-audit-sync"
        t.start()
    }

    /// How many times the file was flushed (for tests).
    var syncs: Int { completed.load(ordering: .relaxed) }

    /// The writer opened `descriptor` (waits for an fsync of the previous file, if one runs).
    func use(_ descriptor: Int32) {
        file.withLock { $0 = descriptor }
    }

    /// The writer is about to close the file (it syncs it itself when it does).
    func closing() {
        file.withLock { $0 = nil }
    }

    /// Records went into the file; lock-free, on the writer's path for every batch.
    func wrote() {
        dirty.store(true, ordering: .relaxed)
    }

    func stop() {
        stopping.store(true, ordering: .relaxed)
        wake.lock()
        wake.signal()
        wake.unlock()
    }

    private func run() {
        while !stopping.load(ordering: .relaxed) {
            wake.lock()
            _ = wake.wait(until: Date().addingTimeInterval(interval))
            wake.unlock()
            guard dirty.exchange(false, ordering: .relaxed) else { continue }
            file.withLock { descriptor in
                guard let descriptor else { return }
                if Glibc.fsync(descriptor) == 0 { completed.add(1, ordering: .relaxed) }
            }
        }
    }
}
