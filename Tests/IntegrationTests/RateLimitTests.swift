import FHIRGateTestSupport
import Foundation
import Testing

extension IntegrationSuite {
/// Rate limits and revocation through the real gateway, with a real redis-server.
@Suite(.serialized) struct RateLimitTests {
    static let policy = """
    name: test
    rate_limits:
      - key: client
        per_minute: 6
        burst: 3
    costs: { read: 1, search: 2 }
    """

    @Test func overTheLimitGets429WithRetryAfterAndRateLimitHeaders() async throws {
        let redis = try await RedisServerProcess.start()
        var options = TestEnvironment.Options()
        options.policy = Self.policy
        options.redis = redis.url
        try await GatewayFixture.with(options) { f in
            let token = try f.token("system/*.rs", client: "limited-app")
            var statuses: [Int] = []
            var last: TestClient.Response?
            for _ in 0..<4 {
                let r = try await f.client.send(.GET, "\(f.base)/Patient/pat-a", token: token)
                statuses.append(r.status)
                last = r
            }
            #expect(statuses == [200, 200, 200, 429])
            let throttled = try #require(last)
            // 6 per minute: the next unit in (at most) 10 s.
            #expect(Int(throttled.headers.first(name: "Retry-After") ?? "") ?? 0 >= 8)
            #expect(throttled.headers.first(name: "RateLimit-Policy") == "\"client\";q=3;w=30")
            #expect(throttled.headers.first(name: "RateLimit")?.hasPrefix("\"client\";r=0;") == true)
            #expect(throttled.json["resourceType"] as? String == "OperationOutcome")
            #expect((throttled.json["issue"] as? [[String: Any]])?.first?["code"] as? String == "throttled")
            // Another client has its own budget.
            let other = try f.token("system/*.rs", client: "other-app")
            #expect(try await f.client.send(.GET, "\(f.base)/Patient/pat-a", token: other).status == 200)
            let lines = f.env.auditLines
            #expect(lines.contains { $0.contains("\"status\":429") && $0.contains("\"rate_limit\":\"redis:deny:client:r=0\"") })
        }
    }

    @Test func withoutRedisTheInProcessLimiterApplies() async throws {
        var options = TestEnvironment.Options()
        options.policy = Self.policy
        try await GatewayFixture.with(options) { f in
            let token = try f.token("system/*.rs")
            var statuses: [Int] = []
            for _ in 0..<2 { statuses.append(try await f.client.send(.GET, "\(f.base)/Patient?_id=pat-a", token: token).status) }
            // Searches cost 2: 3 units of burst allow one search, not two.
            #expect(statuses == [200, 429])
        }
    }

    @Test func redisDownFallsBackToLocalWithoutStalling() async throws {
        let redis = try await RedisServerProcess.start()
        var options = TestEnvironment.Options()
        options.policy = Self.policy
        options.redis = redis.url
        try await GatewayFixture.with(options) { f in
            let token = try f.token("system/*.rs")
            #expect(try await f.client.send(.GET, "\(f.base)/Patient/pat-a", token: token).status == 200)
            redis.kill()
            var statuses: [Int] = []
            for _ in 0..<4 {
                let started = ContinuousClock.now
                statuses.append(try await f.client.send(.GET, "\(f.base)/Patient/pat-a", token: token).status)
                #expect(started.duration(to: .now) < .milliseconds(600))
            }
            // The local limiter starts with a full burst: 3 allowed, then throttled.
            #expect(statuses == [200, 200, 200, 429])
        }
    }

    @Test func revokedTokenIsRefusedOnTheNextRequest() async throws {
        let redis = try await RedisServerProcess.start()
        var options = TestEnvironment.Options()
        options.redis = redis.url
        try await GatewayFixture.with(options) { f in
            let token = try f.token("system/*.rs")
            #expect(try await f.client.send(.GET, "\(f.base)/Patient/pat-a", token: token).status == 200)
            let parts = token.split(separator: ".")
            var payload = String(parts[1]).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            while payload.count % 4 != 0 { payload += "=" }
            let claims = try JSONSerialization.jsonObject(with: Data(base64Encoded: payload)!) as! [String: Any]
            let jti = claims["jti"] as! String
            let process = Process()
            process.executableURL = URL(fileURLWithPath: GatewayProcess.binary)
            process.arguments = ["revoke", "--config", f.configFile, "--jti", jti, "--ttl", "600"]
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
            #expect(process.terminationStatus == 0)
            let after = try await f.client.send(.GET, "\(f.base)/Patient/pat-a", token: token)
            #expect(after.status == 401)
            #expect(after.headers.first(name: "WWW-Authenticate")?.contains("invalid_token") == true)
        }
    }
}
}
