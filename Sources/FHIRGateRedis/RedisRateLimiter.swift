import Crypto
import FHIRGateCore
import Foundation
import NIOCore

/// GCRA limits in Redis: every limit of a request is checked and charged atomically by
/// one Lua script (`EVALSHA`, falling back to `EVAL` after a Redis restart emptied the
/// script cache), pipelined with the revocation deny-list lookup: one round trip.
///
/// Keys carry a hash tag (`{…}`) of the request's client, so all keys of one request
/// live in one Redis Cluster slot.
public final class RedisRateLimiter: Sendable {
    let client: RedisClient
    let prefix: String

    public init(client: RedisClient, prefix: String = "fhirgate") {
        self.client = client
        self.prefix = prefix
    }

    /// KEYS: the limit keys. ARGV[1] now (ms), ARGV[2] cost, then interval and tolerance
    /// (ms) per key. Returns {allowed, retry_ms, remaining, reset_ms, tightest_index}.
    static let script = """
    local now = tonumber(ARGV[1])
    local cost = tonumber(ARGV[2])
    local retry = 0
    local tats = {}
    local tightest, tightestRemaining, tightestReset = 1, nil, 0
    for i = 1, #KEYS do
      local interval = tonumber(ARGV[1 + 2 * i])
      local tolerance = tonumber(ARGV[2 + 2 * i])
      local tat = tonumber(redis.call('GET', KEYS[i]) or now)
      if tat < now then tat = now end
      local newTat = tat + interval * cost
      local allowAt = newTat - tolerance
      if allowAt > now and allowAt - now > retry then retry = allowAt - now end
      tats[i] = newTat
      local remaining = math.floor((tolerance - (newTat - now)) / interval)
      if remaining < 0 then remaining = 0 end
      if tightestRemaining == nil or remaining < tightestRemaining then
        tightest, tightestRemaining, tightestReset = i, remaining, newTat - now
      end
    end
    if retry > 0 then
      return {0, math.ceil(retry), tightestRemaining, math.ceil(tightestReset), tightest}
    end
    for i = 1, #KEYS do
      redis.call('SET', KEYS[i], tostring(tats[i]), 'PX', math.ceil(tats[i] - now) + 1000)
    end
    return {1, 0, tightestRemaining, math.ceil(tightestReset), tightest}
    """

    static let scriptSHA: String = {
        // Redis names scripts by their SHA-1 (a name, not a security property).
        Hex.encode(Insecure.SHA1.hash(data: Array(script.utf8)))
    }()

    /// Redis key for a limit: `prefix:{tag}:name:key`.
    func redisKey(_ spec: RateLimitSpec, tag: String) -> String {
        "\(prefix):{\(tag)}:rl:\(spec.name):\(spec.key)"
    }

    public func revocationKey(jti: String) -> String { "\(prefix):revoked:jti:\(jti)" }
    public func revocationKey(sub: String) -> String { "\(prefix):revoked:sub:\(sub)" }

    /// Checks and charges `limits`, and looks up the deny-list keys, in one round trip.
    public func check(_ limits: [RateLimitSpec], cost: Int, tag: String, revocationKeys: [String], nowMilliseconds now: Double) async throws -> RateLimitResult {
        var commands: [[String]] = []
        if !limits.isEmpty {
            var args = ["EVALSHA", Self.scriptSHA, String(limits.count)] + limits.map { redisKey($0, tag: tag) }
            args += [String(Int64(now)), String(cost)]
            for spec in limits { args += [String(spec.intervalMilliseconds), String(spec.toleranceMilliseconds)] }
            commands.append(args)
        }
        if !revocationKeys.isEmpty { commands.append(["EXISTS"] + revocationKeys) }
        guard !commands.isEmpty else { return RateLimitResult(allowed: true, source: "redis") }
        var replies = try await client.pipeline(commands)
        if !limits.isEmpty, case .error(let e) = replies[0], e.hasPrefix("NOSCRIPT") {
            // Redis restarted and lost its script cache: run the source (which loads it).
            var eval = commands[0]
            eval[0] = "EVAL"
            eval[1] = Self.script
            replies[0] = try await client.pipeline([eval])[0]
        }
        var result = RateLimitResult(allowed: true, source: "redis")
        if !limits.isEmpty {
            guard case .array(let parts) = replies[0], parts.count == 5,
                  case .integer(let allowed) = parts[0], case .integer(let retry) = parts[1], case .integer(let remaining) = parts[2],
                  case .integer(let reset) = parts[3], case .integer(let index) = parts[4], index >= 1, Int(index) <= limits.count
            else {
                if case .error(let e) = replies[0] { throw RedisError.server(e) }
                throw RedisError.protocolError("unexpected limiter reply")
            }
            result = RateLimitResult(allowed: allowed == 1, retryAfterSeconds: Double(retry) / 1000, remaining: Int(remaining),
                                     resetSeconds: Double(reset) / 1000, limit: limits[Int(index) - 1], source: "redis")
        }
        if !revocationKeys.isEmpty, case .integer(let n) = replies[replies.count - 1], n > 0 {
            result.revoked = true
        }
        return result
    }

    /// Adds a deny-list entry that expires after `seconds` (set it to the longest token lifetime).
    public func revoke(key: String, seconds: Int) async throws {
        let reply = try await client.pipeline([["SET", key, "1", "EX", String(max(1, seconds))]])[0]
        if case .error(let e) = reply { throw RedisError.server(e) }
    }
}
