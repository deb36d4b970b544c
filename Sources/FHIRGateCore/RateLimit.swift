import Synchronization

/// One limit that applies to a request: a key (e.g. the client), a sustained rate and a
/// burst. GCRA: the emission interval is `1/rate`; up to `burst` units may be taken at
/// once, then one per interval.
public struct RateLimitSpec: Sendable, Hashable {
    /// What the limit counts by, for headers and audit: `client`, `user`, `patient`, `ip`, `route`.
    public var name: String
    /// The full key, unique per counted subject (e.g. `client:https://as|app1`).
    public var key: String
    public var ratePerSecond: Double
    public var burst: Int

    public init(name: String, key: String, ratePerSecond: Double, burst: Int) {
        self.name = name
        self.key = key
        self.ratePerSecond = ratePerSecond
        self.burst = burst
    }

    public var intervalMilliseconds: Double { 1000 / ratePerSecond }
    public var toleranceMilliseconds: Double { intervalMilliseconds * Double(burst) }
}

/// What the limiter said about one request.
public struct RateLimitResult: Sendable, Equatable {
    public var allowed: Bool
    /// Seconds until the request would be allowed (0 when allowed).
    public var retryAfterSeconds: Double
    /// Units left in the tightest limit after this request.
    public var remaining: Int
    /// Seconds until the tightest limit is full again.
    public var resetSeconds: Double
    /// The tightest limit.
    public var limit: RateLimitSpec?
    /// Where the decision came from: `redis`, `local`, `allow` or `deny` (failure policy).
    public var source: String
    /// The token is on the revocation deny-list.
    public var revoked: Bool

    public init(allowed: Bool, retryAfterSeconds: Double = 0, remaining: Int = 0, resetSeconds: Double = 0, limit: RateLimitSpec? = nil,
                source: String, revoked: Bool = false) {
        self.allowed = allowed
        self.retryAfterSeconds = retryAfterSeconds
        self.remaining = remaining
        self.resetSeconds = resetSeconds
        self.limit = limit
        self.source = source
        self.revoked = revoked
    }

    /// Builds the result from each limit's new theoretical arrival time (all ms).
    static func from(_ limits: [RateLimitSpec], tats: [Double], now: Double, cost: Int, source: String) -> RateLimitResult {
        var retry = 0.0
        var tightest: (remaining: Int, reset: Double, spec: RateLimitSpec)?
        for (spec, tat) in zip(limits, tats) {
            let newTAT = max(tat, now) + spec.intervalMilliseconds * Double(cost)
            let allowAt = newTAT - spec.toleranceMilliseconds
            if allowAt > now { retry = max(retry, allowAt - now) }
            let remaining = max(0, Int(((spec.toleranceMilliseconds - (newTAT - now)) / spec.intervalMilliseconds).rounded(.down)))
            if tightest == nil || remaining < tightest!.remaining { tightest = (remaining, (newTAT - now) / 1000, spec) }
        }
        return RateLimitResult(allowed: retry == 0, retryAfterSeconds: retry / 1000, remaining: tightest?.remaining ?? 0,
                               resetSeconds: tightest?.reset ?? 0, limit: tightest?.spec, source: source)
    }
}

/// Exact in-process GCRA for a single instance (and the fallback when Redis fails):
/// thread-safe, all limits of a request charged atomically only if all pass, bounded
/// memory (idle keys expire; the table is capped).
public final class LocalRateLimiter: Sendable {
    private let state = Mutex<[String: Double]>([:])
    let capacity: Int

    public init(capacity: Int = 100_000) {
        self.capacity = capacity
    }

    public func check(_ limits: [RateLimitSpec], cost: Int, nowMilliseconds now: Double) -> RateLimitResult {
        guard !limits.isEmpty else { return RateLimitResult(allowed: true, source: "local") }
        return state.withLock { tats in
            let current = limits.map { tats[$0.key] ?? now }
            var result = RateLimitResult.from(limits, tats: current, now: now, cost: cost, source: "local")
            if result.allowed {
                if tats.count >= capacity {
                    // A key whose TAT is in the past is at full burst: forgetting it changes nothing.
                    tats = tats.filter { $0.value > now }
                    if tats.count >= capacity { result = RateLimitResult(allowed: false, retryAfterSeconds: 1, source: "local"); return result }
                }
                for (spec, tat) in zip(limits, current) {
                    tats[spec.key] = max(tat, now) + spec.intervalMilliseconds * Double(cost)
                }
            }
            return result
        }
    }

    public var keyCount: Int { state.withLock { $0.count } }
}
