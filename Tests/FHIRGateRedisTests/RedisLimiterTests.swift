import FHIRGateCore
import FHIRGateTestSupport
import Foundation
import NIOCore
import NIOPosix
import Testing
@testable import FHIRGateRedis

/// Against a real redis-server started by the test on a free loopback port.
@Suite(.serialized) struct RedisLimiterTests {
    func client(_ server: RedisServerProcess) -> RedisClient {
        RedisClient(settings: .init(url: RedisURL(server.url)!), group: MultiThreadedEventLoopGroup.singleton)
    }

    /// For counting tests: a timeout a loaded CI machine cannot trip (the breaker has its own tests).
    func patientClient(_ server: RedisServerProcess) -> RedisClient {
        var settings = RedisClient.Settings(url: RedisURL(server.url)!)
        settings.commandTimeout = .seconds(2)
        settings.connectTimeout = .seconds(2)
        return RedisClient(settings: settings, group: MultiThreadedEventLoopGroup.singleton)
    }

    func now() -> Double { Date().timeIntervalSince1970 * 1000 }

    @Test func connectionPipelinesAndAuthenticates() async throws {
        let server = try await RedisServerProcess.start(password: "s3cret")
        let c = patientClient(server)
        let replies = try await c.pipeline((0..<1000).map { _ in ["INCR", "n"] } + [["PING"]])
        #expect(replies[999] == .integer(1000))
        #expect(replies[1000] == .simpleString("PONG"))
        let db = try await c.pipeline([["CLIENT", "INFO"]])[0].string ?? ""
        #expect(db.contains("db=2"))
        await c.close()
        // A wrong password is refused.
        let wrong = RedisClient(settings: .init(url: RedisURL("redis://:nope@127.0.0.1:\(server.port)/0")!), group: MultiThreadedEventLoopGroup.singleton)
        await #expect(throws: (any Error).self) { _ = try await wrong.pipeline([["PING"]]) }
    }

    /// Offers far more than the rate from 8 concurrent callers for `seconds` (so a slow,
    /// loaded machine still offers more than the limit) and counts what was admitted.
    func drive(seconds: Double, _ check: @escaping @Sendable (Int) async throws -> Bool) async throws -> Int {
        let end = Date().addingTimeInterval(seconds)
        return try await withThrowingTaskGroup(of: Int.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    var admitted = 0
                    while Date() < end { if try await check(worker) { admitted += 1 } }
                    return admitted
                }
            }
            return try await group.reduce(0, +)
        }
    }

    @Test func redisLimiterAdmitsBurstThenRate() async throws {
        let server = try await RedisServerProcess.start()
        let c = patientClient(server)
        _ = try await c.pipeline([["PING"]])
        let limiter = RedisRateLimiter(client: c)
        let spec = RateLimitSpec(name: "client", key: "app-1", ratePerSecond: 20, burst: 10)
        let admitted = try await drive(seconds: 3) { _ in
            try await limiter.check([spec], cost: 1, tag: "app-1", revocationKeys: [], nowMilliseconds: Date().timeIntervalSince1970 * 1000).allowed
        }
        let expected = 10.0 + 20 * 3
        #expect(abs(Double(admitted) - expected) / expected < 0.05, "admitted \(admitted), expected about \(expected)")
        await c.close()
    }

    @Test func twoInstancesShareOneLimit() async throws {
        let server = try await RedisServerProcess.start()
        let a = RedisRateLimiter(client: patientClient(server))
        let b = RedisRateLimiter(client: patientClient(server))
        _ = try await a.client.pipeline([["PING"]])
        _ = try await b.client.pipeline([["PING"]])
        let spec = RateLimitSpec(name: "client", key: "shared", ratePerSecond: 20, burst: 10)
        let admitted = try await drive(seconds: 3) { worker in
            try await (worker % 2 == 0 ? a : b).check([spec], cost: 1, tag: "shared", revocationKeys: [], nowMilliseconds: Date().timeIntervalSince1970 * 1000).allowed
        }
        let expected = 10.0 + 20 * 3
        #expect(abs(Double(admitted) - expected) / expected < 0.05, "admitted \(admitted), expected about \(expected)")
    }

    @Test func allLimitsAreChargedOnlyIfAllPass() async throws {
        let server = try await RedisServerProcess.start()
        let limiter = RedisRateLimiter(client: client(server))
        let loose = RateLimitSpec(name: "client", key: "c", ratePerSecond: 1, burst: 100)
        let tight = RateLimitSpec(name: "patient", key: "p", ratePerSecond: 1, burst: 2)
        var results: [RateLimitResult] = []
        for _ in 0..<4 { results.append(try await limiter.check([loose, tight], cost: 1, tag: "c", revocationKeys: [], nowMilliseconds: now())) }
        #expect(results.map(\.allowed) == [true, true, false, false])
        #expect(results[2].limit?.name == "patient")
        #expect(results[2].retryAfterSeconds > 0)
        // The loose limit was charged twice, not four times.
        let alone = try await limiter.check([loose], cost: 1, tag: "c", revocationKeys: [], nowMilliseconds: now())
        #expect(alone.remaining == 97)
    }

    @Test func costsCount() async throws {
        let server = try await RedisServerProcess.start()
        let limiter = RedisRateLimiter(client: client(server))
        let spec = RateLimitSpec(name: "client", key: "k", ratePerSecond: 1, burst: 10)
        #expect(try await limiter.check([spec], cost: 5, tag: "k", revocationKeys: [], nowMilliseconds: now()).allowed)
        #expect(try await limiter.check([spec], cost: 5, tag: "k", revocationKeys: [], nowMilliseconds: now()).allowed)
        #expect(try await limiter.check([spec], cost: 1, tag: "k", revocationKeys: [], nowMilliseconds: now()).allowed == false)
    }

    @Test func revocationIsCheckedInTheSameRoundTrip() async throws {
        let server = try await RedisServerProcess.start()
        let limiter = RedisRateLimiter(client: client(server))
        let spec = RateLimitSpec(name: "client", key: "k", ratePerSecond: 10, burst: 10)
        let key = limiter.revocationKey(jti: "token-1")
        #expect(try await limiter.check([spec], cost: 1, tag: "k", revocationKeys: [key], nowMilliseconds: now()).revoked == false)
        try await limiter.revoke(key: key, seconds: 60)
        #expect(try await limiter.check([spec], cost: 1, tag: "k", revocationKeys: [key, limiter.revocationKey(sub: "u")], nowMilliseconds: now()).revoked)
    }

    @Test func restartWithEmptyScriptCacheRecovers() async throws {
        let server = try await RedisServerProcess.start()
        let c = client(server)
        let limiter = RedisRateLimiter(client: c)
        let spec = RateLimitSpec(name: "client", key: "k", ratePerSecond: 100, burst: 100)
        #expect(try await limiter.check([spec], cost: 1, tag: "k", revocationKeys: [], nowMilliseconds: now()).allowed)
        server.kill()
        try await server.restart()
        // The first call after the restart may hit the dead connection and open the breaker.
        var recovered = false
        let deadline = Date().addingTimeInterval(5)
        while !recovered && Date() < deadline {
            recovered = (try? await limiter.check([spec], cost: 1, tag: "k", revocationKeys: [], nowMilliseconds: now()).allowed) == true
            if !recovered { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(recovered)
        #expect(c.isHealthy)
    }

    @Test func deadRedisFailsFastOnceTheBreakerIsOpen() async throws {
        let server = try await RedisServerProcess.start()
        let c = client(server)
        _ = try await c.pipeline([["PING"]])
        server.kill()
        // Until the breaker opens, a call waits at most the command/connect timeout.
        for _ in 0..<3 {
            let started = ContinuousClock.now
            _ = try? await c.pipeline([["PING"]])
            #expect(started.duration(to: .now) < .milliseconds(400))
        }
        #expect(!c.isHealthy)
        // Open: no waiting at all.
        for _ in 0..<20 {
            let started = ContinuousClock.now
            await #expect(throws: RedisError.unavailable) { _ = try await c.pipeline([["PING"]]) }
            // "A few ms": generous for a loaded 2-core CI machine; a wait on Redis would be ≥ 100 ms.
            #expect(started.duration(to: .now) < .milliseconds(20))
        }
    }

    @Test func pausedRedisOpensTheBreaker() async throws {
        let server = try await RedisServerProcess.start()
        let c = client(server)
        let other = client(server)
        _ = try await c.pipeline([["PING"]])
        let sleeper = Task { try? await other.pipeline([["DEBUG", "SLEEP", "1"]]) }
        try await Task.sleep(for: .milliseconds(50))
        let started = ContinuousClock.now
        await #expect(throws: (any Error).self) { _ = try await c.pipeline([["PING"]]) }
        #expect(started.duration(to: .now) < .milliseconds(300), "the command timeout bounds the wait")
        #expect(!c.isHealthy)
        await #expect(throws: RedisError.unavailable) { _ = try await c.pipeline([["PING"]]) }
        _ = await sleeper.value
    }
}

@Suite struct LocalLimiterTests {
    @Test func admitsBurstThenRateExactly() {
        let limiter = LocalRateLimiter()
        let spec = RateLimitSpec(name: "client", key: "a", ratePerSecond: 10, burst: 5)
        // A simulated clock: 10 seconds in 1 ms steps, one attempt per step.
        var admitted = 0
        for ms in 0..<10_000 where limiter.check([spec], cost: 1, nowMilliseconds: 1_000_000 + Double(ms)).allowed { admitted += 1 }
        #expect(admitted == 5 + 100 - 1 || admitted == 5 + 100, "admitted \(admitted)")
    }

    @Test func idleKeysAreForgottenWhenFull() {
        let limiter = LocalRateLimiter(capacity: 10)
        let now = 1_000_000.0
        for i in 0..<10 { _ = limiter.check([RateLimitSpec(name: "ip", key: "k\(i)", ratePerSecond: 1000, burst: 10)], cost: 1, nowMilliseconds: now) }
        #expect(limiter.keyCount == 10)
        // Much later every key is back at full burst: they can go.
        #expect(limiter.check([RateLimitSpec(name: "ip", key: "new", ratePerSecond: 1000, burst: 10)], cost: 1, nowMilliseconds: now + 60_000).allowed)
        #expect(limiter.keyCount == 1)
    }
}
