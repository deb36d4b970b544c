import ArgumentParser
import FHIRGateRedis
import FHIRGateServer
import Foundation
import NIOPosix

struct Revoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put a token (by jti) or a user (by issuer|sub) on the Redis deny-list the gateway checks on every request.",
        discussion: """
        Takes effect on the next request of every gateway instance sharing the Redis (no restart, no cache delay).
        Keep --ttl at least as long as the longest token lifetime your issuers grant.
        """)

    @Option(name: .long, help: "The config file (for rate_limit.redis).")
    var config: String

    @Option(name: .long, help: "The token's jti.")
    var jti: String?

    @Option(name: .long, help: "The user, as ISSUER|SUB.")
    var sub: String?

    @Option(name: .long, help: "Seconds the entry lasts.")
    var ttl = 3600

    func validate() throws {
        guard (jti == nil) != (sub == nil) else { throw ValidationError("give exactly one of --jti or --sub") }
    }

    func run() async throws {
        let (cfg, _) = try ConfigLoader.load(file: config)
        guard let text = cfg.rateLimit.redis, let url = RedisURL(text) else {
            throw ValidationError("\(config): revocation needs rate_limit.redis (the deny-list lives in Redis)")
        }
        var settings = RedisClient.Settings(url: url)
        settings.commandTimeout = .seconds(2)
        settings.connectTimeout = .seconds(2)
        let client = RedisClient(settings: settings, group: MultiThreadedEventLoopGroup.singleton)
        let limiter = RedisRateLimiter(client: client, prefix: cfg.rateLimit.keyPrefix)
        let key = jti.map { limiter.revocationKey(jti: $0) } ?? limiter.revocationKey(sub: sub!)
        try await limiter.revoke(key: key, seconds: ttl)
        await client.close()
        print("revoked \(jti.map { "jti \($0)" } ?? "sub \(sub!)") for \(ttl) s")
    }
}
