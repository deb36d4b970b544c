import FHIRGateCore
import FHIRGateRedis
import Foundation

/// Phase 6: the route policy's limits (client, user, patient, IP, route), all checked and
/// charged together, and the token deny-list — one Redis round trip, or the in-process
/// limiter. What happens when Redis fails is `rate_limit.on_redis_error`.
struct RateLimitPhase {
    let limiter: GatewayRateLimiter

    func run(_ ctx: inout RequestContext) async throws(GatewayError) {
        guard let route = ctx.route, let request = ctx.request else { return }
        let policy = route.policy
        let specs = Self.specs(policy?.rateLimits ?? [], ctx: ctx, route: route)
        var revocationKeys: [String] = []
        if let token = ctx.token, let redis = limiter.redis {
            if let jti = token.tokenID { revocationKeys.append(redis.revocationKey(jti: jti)) }
            if let sub = token.subject { revocationKeys.append(redis.revocationKey(sub: token.issuer + "|" + sub)) }
        }
        guard !specs.isEmpty || !revocationKeys.isEmpty else { return }
        let cost = Self.cost(request, policy?.costs ?? .init())
        let tag = ctx.token.map { ($0.issuer) + "|" + ($0.clientID ?? "-") } ?? (ctx.clientIP ?? "-")
        let result = await limiter.check(specs, cost: cost, tag: tag, revocationKeys: revocationKeys)
        ctx.rateLimit = result
        if result.revoked { throw .invalidToken(reason: "token_revoked") }
        if !result.allowed {
            if result.source == "deny" { throw .serviceUnavailable(reason: "rate_limiter_unavailable") }
            throw .throttled(retryAfterSeconds: Int(result.retryAfterSeconds.rounded(.up)), reason: "rate_limited_\(result.limit?.name ?? "limit")")
        }
    }

    static func specs(_ rules: [PolicyFile.RateLimitRule], ctx: RequestContext, route: RouteRuntime) -> [RateLimitSpec] {
        rules.compactMap { rule in
            let subject: String?
            switch rule.key {
            case .client: subject = ctx.token.map { $0.issuer + "|" + ($0.clientID ?? "-") }
            case .user: subject = ctx.token.flatMap { t in t.subject.map { t.issuer + "|" + $0 } }
            case .patient: subject = ctx.token?.patient ?? ctx.request?.compartment?.id
            case .ip: subject = ctx.clientIP
            case .route: subject = route.settings.name
            }
            // A limit keyed on something the request does not have does not apply to it.
            return subject.map { RateLimitSpec(name: rule.key.rawValue, key: route.settings.name + ":" + $0, ratePerSecond: rule.perSecond, burst: rule.burst) }
        }
    }

    static func cost(_ request: FHIRRequest, _ costs: PolicyFile.InteractionCosts) -> Int {
        switch request.interaction {
        case .read, .vread, .historyInstance, .capabilities, .smartConfiguration: return costs.read
        case .searchType, .searchSystem, .searchCompartment, .historyType, .historySystem, .pageContinuation: return costs.search
        case .operationSystem, .operationType, .operationInstance: return request.operation == "export" ? costs.export : costs.operation
        default: return costs.write
        }
    }
}

/// Redis when configured, the in-process limiter otherwise or as the fallback.
final class GatewayRateLimiter: Sendable {
    let redis: RedisRateLimiter?
    let redisClient: RedisClient?
    let local = LocalRateLimiter()
    let onRedisError: RateLimitSettings.OnRedisError

    init(settings: RateLimitSettings, redisClient: RedisClient?) {
        self.redisClient = redisClient
        redis = redisClient.map { RedisRateLimiter(client: $0, prefix: settings.keyPrefix) }
        onRedisError = settings.onRedisError
    }

    func check(_ specs: [RateLimitSpec], cost: Int, tag: String, revocationKeys: [String]) async -> RateLimitResult {
        let now = Date().timeIntervalSince1970 * 1000
        guard let redis else { return local.check(specs, cost: cost, nowMilliseconds: now) }
        do {
            return try await redis.check(specs, cost: cost, tag: tag, revocationKeys: revocationKeys, nowMilliseconds: now)
        } catch {
            switch onRedisError {
            case .allow: return RateLimitResult(allowed: true, source: "allow")
            case .deny: return RateLimitResult(allowed: false, retryAfterSeconds: 1, source: "deny")
            case .local: return local.check(specs, cost: cost, nowMilliseconds: now)
            }
        }
    }

    var isHealthy: Bool { redisClient?.isHealthy ?? true }
}

extension RateLimitResult {
    /// IETF httpapi RateLimit headers (draft-ietf-httpapi-ratelimit-headers).
    var headers: [(String, String)] {
        guard let limit else { return [] }
        let window = max(1, Int((Double(limit.burst) / limit.ratePerSecond).rounded(.up)))
        return [
            ("RateLimit-Policy", "\"\(limit.name)\";q=\(limit.burst);w=\(window)"),
            ("RateLimit", "\"\(limit.name)\";r=\(remaining);t=\(Int(resetSeconds.rounded(.up)))"),
        ]
    }

    /// The audit record's `rate_limit` field.
    var auditText: String {
        "\(source):\(allowed ? "allow" : "deny")" + (limit.map { ":\($0.name):r=\(remaining)" } ?? "") + (revoked ? ":revoked" : "")
    }
}
