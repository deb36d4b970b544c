import FHIRGateCore
import Foundation
import Synchronization

/// Where Bulk Data job records live. Redis when the gateway has one (so any instance
/// behind a balancer can answer a poll); otherwise in this process — single instance only.
protocol BulkJobStore: Sendable {
    /// Counts the owner's unexpired jobs and, if fewer than `limit`, reserves a slot for a
    /// kick-off about to be forwarded. Returns false when the owner is at the limit.
    func reserve(owner: String, slot: String, limit: Int, ttl: Double) async throws -> Bool
    /// Gives a reserved slot back (the upstream did not start a job).
    func release(owner: String, slot: String) async throws
    func save(_ job: BulkExportJob, slot: String) async throws
    func load(_ id: String) async throws -> BulkExportJob?
    /// Removes the job (cancelled, or gone upstream).
    func delete(_ job: BulkExportJob) async throws
}

final class InProcessBulkJobStore: BulkJobStore {
    private struct State {
        var jobs: [String: BulkExportJob] = [:]
        /// Per owner: slot id → expiry.
        var slots: [String: [String: Double]] = [:]
    }

    private let state = Mutex(State())

    func reserve(owner: String, slot: String, limit: Int, ttl: Double) async throws -> Bool {
        let now = Date().timeIntervalSince1970
        return state.withLock { s in
            var mine = (s.slots[owner] ?? [:]).filter { $0.value > now }
            guard mine.count < limit else {
                s.slots[owner] = mine
                return false
            }
            mine[slot] = now + ttl
            s.slots[owner] = mine
            return true
        }
    }

    func release(owner: String, slot: String) async throws {
        state.withLock { _ = $0.slots[owner]?.removeValue(forKey: slot) }
    }

    func save(_ job: BulkExportJob, slot: String) async throws {
        state.withLock { s in
            s.jobs = s.jobs.filter { $0.value.expires > Date().timeIntervalSince1970 }
            s.jobs[job.id] = job
            s.slots[job.ownerKey, default: [:]][slot] = job.expires
        }
    }

    func load(_ id: String) async throws -> BulkExportJob? {
        state.withLock { s in
            guard let job = s.jobs[id], job.expires > Date().timeIntervalSince1970 else { return nil }
            return job
        }
    }

    func delete(_ job: BulkExportJob) async throws {
        state.withLock { s in
            s.jobs.removeValue(forKey: job.id)
            _ = s.slots[job.ownerKey]?.removeValue(forKey: job.id)
        }
    }
}
