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

    struct State {
        var queue: [AuditRecord] = []
        var waiters: [CheckedContinuation<Void, Never>] = []
        var flushWaiters: [CheckedContinuation<Void, Never>] = []
        var stopping = false
        var written = 0
        var failed = false
    }

    public let path: String
    let capacity: Int
    let fsync: FsyncMode
    private let state = Mutex(State())
    private let wake = NSCondition()

    public init(path: String, capacity: Int = 10_000, fsync: FsyncMode = .interval) throws {
        self.path = path
        self.capacity = capacity
        self.fsync = fsync
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else { throw AuditError.cannotOpen(path) }
        }
        let t = Thread { [self] in self.run() }
        t.name = "fhirgate-audit"
        t.start()
    }

    /// Queues a record; suspends while the queue is full.
    public func append(_ record: AuditRecord) async {
        while true {
            let queued: Bool = state.withLock { s in
                guard s.queue.count < capacity || s.stopping else { return false }
                s.queue.append(record)
                return true
            }
            if queued { break }
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.queue.count < capacity { return true }
                    s.waiters.append(c)
                    return false
                }
                if resumeNow { c.resume() }
            }
        }
        signalWriter()
    }

    /// Waits until everything queued so far is written.
    public func flush() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let done = state.withLock { s -> Bool in
                if s.queue.isEmpty { return true }
                s.flushWaiters.append(c)
                return false
            }
            if done { c.resume() }
            signalWriter()
        }
    }

    /// Drains the queue and stops the thread.
    public func shutdown() async {
        await flush()
        state.withLock { $0.stopping = true }
        signalWriter()
    }

    public var recordsWritten: Int { state.withLock { $0.written } }
    public var isFailing: Bool { state.withLock { $0.failed } }

    private func signalWriter() {
        wake.lock()
        wake.signal()
        wake.unlock()
    }

    private func run() {
        var previousHash = Self.lastLineHash(path: path)
        var handle = FileHandle(forWritingAtPath: path)
        _ = try? handle?.seekToEnd()
        var lastSync = Date()
        while true {
            wake.lock()
            while state.withLock({ $0.queue.isEmpty && !$0.stopping }) {
                _ = wake.wait(until: Date().addingTimeInterval(1))
            }
            wake.unlock()
            let (batch, stop) = state.withLock { s -> ([AuditRecord], Bool) in
                let b = s.queue
                s.queue.removeAll(keepingCapacity: true)
                return (b, s.stopping && b.isEmpty)
            }
            if stop { break }
            var data = Data()
            for record in batch {
                let line = record.jsonLine(previousHash: previousHash)
                previousHash = Self.hash(line)
                data.append(contentsOf: line.utf8)
                data.append(0x0A)
            }
            var ok = false
            if handle == nil { handle = FileHandle(forWritingAtPath: path); _ = try? handle?.seekToEnd() }
            if let handle {
                do {
                    try handle.write(contentsOf: data)
                    if fsync == .always || (fsync == .interval && Date().timeIntervalSince(lastSync) >= 1) {
                        try handle.synchronize()
                        lastSync = Date()
                    }
                    ok = true
                } catch {
                    ok = false
                }
            }
            let (waiters, flushers) = state.withLock { s -> ([CheckedContinuation<Void, Never>], [CheckedContinuation<Void, Never>]) in
                s.failed = !ok
                if ok { s.written += batch.count }
                let w = s.waiters
                s.waiters.removeAll()
                var f: [CheckedContinuation<Void, Never>] = []
                if s.queue.isEmpty {
                    f = s.flushWaiters
                    s.flushWaiters.removeAll()
                }
                return (w, f)
            }
            waiters.forEach { $0.resume() }
            flushers.forEach { $0.resume() }
        }
        try? handle?.synchronize()
        try? handle?.close()
        let rest = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            let r = s.flushWaiters + s.waiters
            s.flushWaiters.removeAll()
            s.waiters.removeAll()
            return r
        }
        rest.forEach { $0.resume() }
    }

    static func hash(_ line: String) -> String {
        SHA256.hash(data: Data(line.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// The chain continues from the file's last complete line.
    static func lastLineHash(path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path), !data.isEmpty else { return nil }
        let lines = data.split(separator: 0x0A)
        guard let last = lines.last, let text = String(data: Data(last), encoding: .utf8) else { return nil }
        return hash(text)
    }
}

public enum AuditError: Error, Sendable {
    case cannotOpen(String)
}
