import FHIRGateCore
import FHIRGateRedis
import FHIRGateTestSupport
import Foundation
import NIOPosix
import Testing
@testable import FHIRGateServer

/// Both job stores behave the same: the Redis one against a real redis-server.
@Suite(.serialized) struct BulkJobStoreTests {
    func job(owner client: String, ttl: Double = 60) -> BulkExportJob {
        let now = Date().timeIntervalSince1970
        return BulkExportJob(id: BulkExportJob.newID(), issuer: "https://as", clientID: client, subject: "svc", types: ["Patient"],
                             kickoffURL: "https://gw/r4/$export", upstreamStatusURL: "http://up/fhir/$export-poll-status?_jobId=1",
                             created: now, expires: now + ttl)
    }

    func exercise(_ store: any BulkJobStore) async throws {
        let a = job(owner: "a")
        let owner = a.ownerKey
        // Two slots for owner a; the third is refused; another owner is unaffected.
        #expect(try await store.reserve(owner: owner, slot: a.id, limit: 2, ttl: 60))
        let second = BulkExportJob.newID()
        #expect(try await store.reserve(owner: owner, slot: second, limit: 2, ttl: 60))
        #expect(try await !store.reserve(owner: owner, slot: BulkExportJob.newID(), limit: 2, ttl: 60))
        #expect(try await store.reserve(owner: job(owner: "b").ownerKey, slot: BulkExportJob.newID(), limit: 2, ttl: 60))
        // A released slot is free again.
        try await store.release(owner: owner, slot: second)
        let third = BulkExportJob.newID()
        #expect(try await store.reserve(owner: owner, slot: third, limit: 2, ttl: 60))
        // Saved jobs load back exactly; the slot becomes the job.
        var saved = a
        saved.files = ["http://up/fhir/files/1.ndjson"]
        saved.withheld = ["Provenance"]
        try await store.save(saved, slot: a.id)
        #expect(try await store.load(a.id) == saved)
        #expect(try await store.load(BulkExportJob.newID()) == nil)
        // Deleting frees its slot and makes it unloadable.
        try await store.delete(saved)
        #expect(try await store.load(a.id) == nil)
        #expect(try await store.reserve(owner: owner, slot: BulkExportJob.newID(), limit: 2, ttl: 60))
        // Expired jobs are gone.
        let short = job(owner: "c", ttl: 1)
        try await store.save(short, slot: short.id)
        #expect(try await store.load(short.id) != nil)
        try await Task.sleep(for: .milliseconds(2100))
        #expect(try await store.load(short.id) == nil)
    }

    @Test func inProcessStore() async throws {
        try await exercise(InProcessBulkJobStore())
    }

    @Test func redisStore() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.kill() }
        let client = RedisClient(settings: .init(url: try #require(RedisURL(redis.url))), group: MultiThreadedEventLoopGroup.singleton)
        try await exercise(RedisBulkJobStore(client: client, prefix: "test"))
        // Records are keyed under the prefix with a TTL.
        let j = job(owner: "d")
        try await RedisBulkJobStore(client: client, prefix: "test").save(j, slot: j.id)
        let ttl = try await client.pipeline([["TTL", "test:bulk:job:" + j.id]])
        if case .integer(let seconds)? = ttl.first { #expect(seconds > 0 && seconds <= 60) } else { Issue.record("no TTL: \(ttl)") }
        await client.close()
    }
}
