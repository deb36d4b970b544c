import Foundation
import Logging
import NIOCore
import Synchronization

/// A Redis client for the request path: one pipelined connection per event loop (each
/// reconnected on demand; a caller on an event loop uses that loop's connection, so the
/// command, its reply and the caller's continuation never cross threads — measured at
/// about a third of the gateway's per-request CPU when they did), a command timeout, and
/// a circuit breaker so that requests stop waiting on a dead or hung Redis. While the breaker is open, calls fail at once (`.unavailable`);
/// after the open period one call is let through to probe; success closes it.
public final class RedisClient: Sendable {
    public struct Settings: Sendable {
        public var url: RedisURL
        public var connectTimeout: TimeAmount = .milliseconds(250)
        public var commandTimeout: TimeAmount = .milliseconds(100)
        public var breakerMinimumOpen: Duration = .milliseconds(250)
        public var breakerMaximumOpen: Duration = .seconds(5)
        /// Connections kept open (nil: one per event loop of the group); pipelining
        /// makes a few enough.
        public var poolSize: Int?

        public init(url: RedisURL) {
            self.url = url
        }
    }

    struct State {
        var connections: [RedisConnection?] = []
        var connecting: Set<Int> = []
        var next = 0
        var openUntil: ContinuousClock.Instant?
        var openDuration: Duration = .zero
        var isOpen = false
        var failures = 0
        var successes = 0
    }

    let settings: Settings
    let group: any EventLoopGroup
    /// The loop each pool slot's connection lives on.
    let loops: [any EventLoop]
    let logger: Logger
    private let state = Mutex(State())

    public init(settings: Settings, group: any EventLoopGroup, logger: Logger = Logger(label: "fhirgate.redis")) {
        self.settings = settings
        self.group = group
        self.logger = logger
        let all = Array(group.makeIterator())
        let size = max(1, settings.poolSize ?? all.count)
        loops = (0..<size).map { all.isEmpty ? group.next() : all[$0 % all.count] }
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
        enum Step { case use(RedisConnection), useAndRefill(RedisConnection, Int), connect(Int), fail }
        let now = ContinuousClock.now
        let size = loops.count
        let home = loops.firstIndex { $0.inEventLoop }
        let step: Step = state.withLock { s in
            if let until = s.openUntil, now < until { return .fail }
            if s.connections.count != size { s.connections = Array(repeating: nil, count: size) }
            let slot: Int
            if let home {
                slot = home
            } else {
                slot = s.next % size
                s.next &+= 1
            }
            if let c = s.connections[slot], c.isActive { return .use(c) }
            // This slot is down: use any live one while it reconnects.
            if let live = s.connections.compactMap({ $0 }).first(where: { $0.isActive }) {
                if !s.connecting.contains(slot) { s.connecting.insert(slot); return .useAndRefill(live, slot) }
                return .use(live)
            }
            if s.connecting.contains(slot) { return .fail }
            s.connecting.insert(slot)
            return .connect(slot)
        }
        switch step {
        case .use(let c): return c
        case .fail: throw RedisError.unavailable
        case .useAndRefill(let c, let slot):
            Task { _ = try? await self.connect(slot: slot) }
            return c
        case .connect(let slot):
            return try await connect(slot: slot)
        }
    }

    private func connect(slot: Int) async throws -> RedisConnection {
        do {
            let c = try await RedisConnection.connect(settings.url, group: loops[slot], timeout: settings.connectTimeout)
            state.withLock { s in
                if slot < s.connections.count { s.connections[slot] = c }
                s.connecting.remove(slot)
            }
            return c
        } catch {
            state.withLock { _ = $0.connecting.remove(slot) }
            recordFailure(dropping: nil)
            throw RedisError.unavailable
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
            if let connection, let i = s.connections.firstIndex(where: { $0 === connection }) { s.connections[i] = nil }
            s.openDuration = s.openDuration == .zero ? settings.breakerMinimumOpen : min(s.openDuration * 2, settings.breakerMaximumOpen)
            s.openUntil = ContinuousClock.now + s.openDuration
            defer { s.isOpen = true }
            return !s.isOpen
        }
        if let connection { Task { await connection.close() } }
        if opened { logger.warning("redis unreachable or slow: circuit breaker open") }
    }

    public func close() async {
        let all = state.withLock { s -> [RedisConnection] in
            defer { s.connections = [] }
            return s.connections.compactMap { $0 }
        }
        for c in all { await c.close() }
    }
}
