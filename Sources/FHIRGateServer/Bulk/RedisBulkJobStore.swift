import FHIRGateCore
import FHIRGateRedis
import Foundation

/// Job records as JSON strings with a TTL; each owner's running jobs in a sorted set
/// scored by expiry, so the concurrency check and the reservation are one atomic script.
struct RedisBulkJobStore: BulkJobStore {
    let client: RedisClient
    let prefix: String

    static let reserveScript = """
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
    if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
    redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
    redis.call('PEXPIREAT', KEYS[1], math.floor(tonumber(ARGV[3]) * 1000))
    return 1
    """

    func ownerKey(_ owner: String) -> String { prefix + ":bulk:owner:" + owner }
    func jobKey(_ id: String) -> String { prefix + ":bulk:job:" + id }

    func reserve(owner: String, slot: String, limit: Int, ttl: Double) async throws -> Bool {
        let now = Date().timeIntervalSince1970
        let reply = try await client.pipeline([["EVAL", Self.reserveScript, "1", ownerKey(owner), String(now), String(limit), String(now + ttl), slot]])
        if case .integer(let n)? = reply.first { return n == 1 }
        throw BulkStoreError.unexpectedReply
    }

    func release(owner: String, slot: String) async throws {
        _ = try await client.pipeline([["ZREM", ownerKey(owner), slot]])
    }

    func save(_ job: BulkExportJob, slot: String) async throws {
        let json = String(decoding: try JSONEncoder().encode(job), as: UTF8.self)
        let ttl = max(1, Int(job.expires - Date().timeIntervalSince1970))
        let replies = try await client.pipeline([
            ["SET", jobKey(job.id), json, "EX", String(ttl)],
            ["ZREM", ownerKey(job.ownerKey), slot],
            ["ZADD", ownerKey(job.ownerKey), String(job.expires), job.id],
        ])
        if replies.contains(where: { if case .error = $0 { true } else { false } }) { throw BulkStoreError.unexpectedReply }
    }

    func load(_ id: String) async throws -> BulkExportJob? {
        let reply = try await client.pipeline([["GET", jobKey(id)]])
        switch reply.first {
        case .null?: return nil
        case .bulkString(let bytes)?: return try JSONDecoder().decode(BulkExportJob.self, from: Data(bytes))
        default: throw BulkStoreError.unexpectedReply
        }
    }

    func delete(_ job: BulkExportJob) async throws {
        _ = try await client.pipeline([["DEL", jobKey(job.id)], ["ZREM", ownerKey(job.ownerKey), job.id]])
    }
}

enum BulkStoreError: Error {
    case unexpectedReply
}
