import Foundation
import Logging
import NIOCore
import Synchronization

/// A Redis client for the request path: one pipelined connection (reconnected with
/// backoff), a command timeout, and a circuit breaker so that requests stop waiting on a
/// dead or hung Redis. While the breaker is open, calls fail at once (`.unavailable`);
/// after the open period one call is let through to probe; success closes it.
public final class RedisClient: Sendable {
    public struct Settings: Sendable {
        public var url: RedisURL
        public var connectTimeout: TimeAmount = .milliseconds(250)
        public var commandTimeout: TimeAmount = .milliseconds(100)
        public var breakerMinimumOpen: Duration = .milliseconds(250)
        public var breakerMaximumOpen: Duration = .seconds(5)

        public init(url: RedisURL) {
            self.url = url
        }
    }

    struct State {
        var connection: RedisConnection?
        var connecting = false
        var openUntil: ContinuousClock.Instant?
        var openDuration: Duration = .zero
        var isOpen = false
        var failures = 0
        var successes = 0
    }

    let settings: Settings
    let group: any EventLoopGroup
    let logger: Logger
    private let state = Mutex(State())

    public init(settings: Settings, group: any EventLoopGroup, logger: Logger = Logger(label: "fhirgate.redis")) {
        self.settings = settings
        self.group = group
        self.logger = logger
    }

    /// Whether the breaker is closed (for `/readyz` and metrics).
    public var isHealthy: Bool { state.withLock { !$0.isOpen } }
    public var failureCount: Int { state.withLock { $0.failures } }

    /// Sends commands in one round trip; fails fast while the breaker is open.
    public func pipeline(_ commands: [[String]]) async throws -> [RESPValue] {
        let connection = try await usableConnection()
        do {
            let replies = try await connection.sendPipelined(commands, timeout: settings.commandTimeout)
            recordSuccess()
            return replies
        } catch {
            recordFailure(dropping: connection)
            throw error
        }
    }

    private func usableConnection() async throws -> RedisConnection {
        enum Step { case use(RedisConnection), connect, fail }
        let now = ContinuousClock.now
        let step: Step = state.withLock { s in
            if let until = s.openUntil, now < until { return .fail }
            if let c = s.connection, c.isActive { return .use(c) }
            if s.connecting { return .fail }
            s.connecting = true
            return .connect
        }
        switch step {
        case .use(let c): return c
        case .fail: throw RedisError.unavailable
        case .connect:
            do {
                let c = try await RedisConnection.connect(settings.url, group: group, timeout: settings.connectTimeout)
                state.withLock { s in
                    s.connection = c
                    s.connecting = false
                }
                return c
            } catch {
                state.withLock { $0.connecting = false }
                recordFailure(dropping: nil)
                throw RedisError.unavailable
            }
        }
    }

    private func recordSuccess() {
        let closed = state.withLock { s -> Bool in
            s.successes += 1
            s.openDuration = .zero
            s.openUntil = nil
            defer { s.isOpen = false }
            return s.isOpen
        }
        if closed { logger.notice("redis reachable again: circuit breaker closed") }
    }

    private func recordFailure(dropping connection: RedisConnection?) {
        let opened = state.withLock { s -> Bool in
            s.failures += 1
            if let connection, s.connection === connection { s.connection = nil }
            s.openDuration = s.openDuration == .zero ? settings.breakerMinimumOpen : min(s.openDuration * 2, settings.breakerMaximumOpen)
            s.openUntil = ContinuousClock.now + s.openDuration
            defer { s.isOpen = true }
            return !s.isOpen
        }
        if let connection { Task { await connection.close() } }
        if opened { logger.warning("redis unreachable or slow: circuit breaker open") }
    }

    public func close() async {
        let c = state.withLock { s -> RedisConnection? in
            defer { s.connection = nil }
            return s.connection
        }
        await c?.close()
    }
}
