import FHIRGateCore
import Crypto
import Foundation
import Synchronization

/// Appends audit records to a JSON-lines file from a dedicated thread (never an event
/// loop), with a bounded queue and group commit. When the queue is full, producers wait
/// (`append` suspends) rather than records being dropped. Each line carries the hash of
/// the previous line, so editing or removing a line breaks the chain.
public final class AuditWriter: Sendable {
    public enum FsyncMode: String, Sendable {
        case always, interval, never
    }

    /// One JSON line per record (`jsonl`), or one FHIR AuditEvent per line (`balp`).
    public enum Format: String, Sendable {
        case jsonl, balp
    }

    struct Entry {
        let record: AuditRecord
        /// Told once the record is in the file (for `appendAndWait`).
        let written: WriteNotice?
    }

    /// Tells a waiter exactly once: true when written, false on timeout.
    final class WriteNotice: Sendable {
        private let callback = Mutex<(@Sendable (Bool) -> Void)?>(nil)
        let deadline: ContinuousClock.Instant

        init(deadline: ContinuousClock.Instant, _ callback: @escaping @Sendable (Bool) -> Void) {
            self.deadline = deadline
            self.callback.withLock { $0 = callback }
        }

        var isPending: Bool { callback.withLock { $0 != nil } }

        func resume(_ written: Bool) {
            let call = callback.withLock { c in
                defer { c = nil }
                return c
            }
            call?(written)
        }
    }

    struct State {
        var queue: [Entry] = []
        var waiters: [CheckedContinuation<Void, Never>] = []
        var flushWaiters: [CheckedContinuation<Void, Never>] = []
        var stopping = false
        var written = 0
        var failed = false
        var reopenRequested = false
        /// Records taken by the writer and not yet in the file.
        var inFlight = 0
        var finished = false
        var finishWaiters: [CheckedContinuation<Void, Never>] = []
    }

    public let path: String
    let capacity: Int
    let fsync: FsyncMode
    /// Built-in rotation: start a new file past this size (nil: external rotation only).
    let rotateBytes: Int?
    let format: Format
    let syslog: SyslogSink?
    private let state = Mutex(State())
    private let wake = NSCondition()
    /// Times out waiters whose record the disk has not taken in time. One thread for all
    /// of them: a timer per request (as `DispatchQueue.asyncAfter` was) cost more than
    /// writing the record.
    private let watchdog = WriteWatchdog()
    /// `fsync: interval` flushes off the writer's thread.
    private let syncer: IntervalSyncer?

    public init(path: String, capacity: Int = 10_000, fsync: FsyncMode = .interval, rotateBytes: Int? = nil, format: Format = .jsonl,
                syslog: SyslogSink? = nil) throws {
        self.path = path
        self.capacity = capacity
        self.fsync = fsync
        self.rotateBytes = rotateBytes
        self.format = format
        self.syslog = syslog
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else { throw AuditError.cannotOpen(path) }
        }
        syncer = fsync == .interval ? IntervalSyncer() : nil
        let t = Thread { [self] in self.run() }
        t.name = "fhirgate-audit"
        t.start()
    }

    /// Queues a record; suspends while the queue is full.
    public func append(_ record: AuditRecord) async {
        await waitForRoom()
        state.withLock { $0.queue.append(Entry(record: record, written: nil)) }
        signalWriter()
    }

    /// Queues a record and returns once it has been written to the file, so a response
    /// can be completed only after its record exists (survives a crash of the gateway).
    /// Returns false if that took longer than `timeout` (the record stays queued).
    @discardableResult
    public func appendAndWait(_ record: AuditRecord, timeout: Duration = .seconds(3600)) async -> Bool {
        await waitForRoom()
        return await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            enqueue(record, timeout: timeout) { c.resume(returning: $0) }
        }
    }

    /// Queues a record and calls `whenWritten` (on the writer or watchdog thread) with
    /// true once it is in the file, or false after `timeout` (the record stays queued).
    /// For callers that resume on their own event loop instead of wherever the writer
    /// thread would send a continuation: the gateway completes a promise of the
    /// connection's loop with it. Suspends while the queue is full, as `append` does.
    public func append(_ record: AuditRecord, timeout: Duration, whenWritten: @escaping @Sendable (Bool) -> Void) async {
        await waitForRoom()
        enqueue(record, timeout: timeout, whenWritten)
    }

    private func enqueue(_ record: AuditRecord, timeout: Duration, _ whenWritten: @escaping @Sendable (Bool) -> Void) {
        let notice = WriteNotice(deadline: .now + timeout, whenWritten)
        state.withLock { $0.queue.append(Entry(record: record, written: notice)) }
        signalWriter()
        watchdog.watch(notice)
    }

    private func waitForRoom() async {
        while state.withLock({ $0.queue.count >= capacity && !$0.stopping }) {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.queue.count < capacity || s.stopping { return true }
                    s.waiters.append(c)
                    return false
                }
                if resumeNow { c.resume() }
            }
        }
    }

    /// Waits until everything queued so far is written.
    public func flush() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let done = state.withLock { s -> Bool in
                if s.queue.isEmpty && s.inFlight == 0 { return true }
                s.flushWaiters.append(c)
                return false
            }
            if done { c.resume() }
            signalWriter()
        }
    }

    /// Drains the queue, stops the thread, and returns once the file is closed.
    public func shutdown() async {
        await flush()
        state.withLock { $0.stopping = true }
        signalWriter()
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let done = state.withLock { s -> Bool in
                if s.finished { return true }
                s.finishWaiters.append(c)
                return false
            }
            if done { c.resume() }
        }
    }

    public var recordsWritten: Int { state.withLock { $0.written } }
    /// How many times `fsync: interval` flushed the file so far.
    public var intervalSyncs: Int { syncer?.syncs ?? 0 }
    /// The last write failed (and is being retried); see `on_audit_failure`.
    public var isFailing: Bool { state.withLock { $0.failed } }

    private func signalWriter() {
        wake.lock()
        wake.signal()
        wake.unlock()
    }

    /// Asks the writer to reopen the file (logrotate's `postrotate`: SIGUSR1).
    public func reopen() {
        state.withLock { $0.reopenRequested = true }
        signalWriter()
    }

    private func run() {
        let tail = AuditLogTail.read(path: path)
        var previousHash = tail.lastLineHash
        var file = AuditFile(path: path)
        if tail.endsMidLine {
            // The last write was cut off (the gateway or the machine stopped during it).
            // Appending after the fragment would merge it with the next record; the file
            // is set aside as a rotated one instead, and the chain goes on, in a new file,
            // from its last complete line (`audit verify` reports the fragment).
            file.rotate()
        }
        var syncedDescriptor: Int32?
        var lastCheck = ContinuousClock.now
        // Every close of the file goes through here: the syncer must let go of it first.
        func closeFile() {
            syncer?.closing()
            syncedDescriptor = nil
            file.close()
        }
        while true {
            wake.lock()
            while state.withLock({ $0.queue.isEmpty && !$0.stopping && !$0.reopenRequested }) {
                _ = wake.wait(until: Date().addingTimeInterval(1))
                if ContinuousClock.now - lastCheck > .seconds(1) { break }
            }
            wake.unlock()
            let (batch, stop, reopen) = state.withLock { s -> ([Entry], Bool, Bool) in
                let b = s.queue
                s.queue.removeAll(keepingCapacity: true)
                s.inFlight = b.count
                defer { s.reopenRequested = false }
                return (b, s.stopping && b.isEmpty, s.reopenRequested)
            }
            if stop { break }
            // Moved or deleted by an external rotation, or asked to: start a new file.
            if reopen || ContinuousClock.now - lastCheck > .seconds(1) {
                lastCheck = ContinuousClock.now
                if reopen || file.wasMovedAway() { closeFile() }
            }
            if let limit = rotateBytes, file.size >= limit {
                closeFile() // synced before it is renamed
                file.rotate()
            }
            if batch.isEmpty { continue }

            var data = Data()
            var hash = previousHash
            for entry in batch {
                let line = format == .balp ? entry.record.auditEventLine(previousHash: hash) : entry.record.jsonLine(previousHash: hash)
                syslog?.send(entry.record, line: line)
                hash = Self.hash(line)
                data.append(contentsOf: line.utf8)
                data.append(0x0A)
            }
            let ok = file.append(data, sync: fsync == .always)
            if ok {
                previousHash = hash
                if let syncer, let descriptor = file.descriptor {
                    if descriptor != syncedDescriptor {
                        syncer.use(descriptor)
                        syncedDescriptor = descriptor
                    }
                    syncer.wrote()
                }
            }
            let (waiters, flushers) = state.withLock { s -> ([CheckedContinuation<Void, Never>], [CheckedContinuation<Void, Never>]) in
                s.failed = !ok
                s.inFlight = 0
                if ok {
                    s.written += batch.count
                } else {
                    // Nothing is dropped: the batch goes back to the front and is retried.
                    s.queue.insert(contentsOf: batch, at: 0)
                }
                let w = ok ? s.waiters : []
                if ok { s.waiters.removeAll() }
                var f: [CheckedContinuation<Void, Never>] = []
                if s.queue.isEmpty {
                    f = s.flushWaiters
                    s.flushWaiters.removeAll()
                }
                return (w, f)
            }
            waiters.forEach { $0.resume() }
            flushers.forEach { $0.resume() }
            if ok { for entry in batch { entry.written?.resume(true) } }
            if !ok {
                closeFile()
                Thread.sleep(forTimeInterval: 0.2)
            }
        }
        closeFile()
        syncer?.stop()
        let rest = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            let r = s.flushWaiters + s.waiters + s.finishWaiters
            s.flushWaiters.removeAll()
            s.waiters.removeAll()
            s.finishWaiters.removeAll()
            s.finished = true
            return r
        }
        rest.forEach { $0.resume() }
    }

    static func hash(_ line: String) -> String {
        var line = line
        return line.withUTF8 { Hex.encode(SHA256.hash(data: UnsafeRawBufferPointer($0))) }
    }
}

public enum AuditError: Error, Sendable {
    case cannotOpen(String)
}
