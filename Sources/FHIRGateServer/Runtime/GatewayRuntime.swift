import AsyncHTTPClient
import FHIRGateAudit
import Crypto
import FHIRGateRedis
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The live gateway state shared by all connections: the current snapshot (swapped
/// atomically on reload), the audit writer, metrics and readiness.
public final class GatewayRuntime: Sendable {
    let configFile: String
    let group: any EventLoopGroup
    let logger: Logger
    let metrics = GatewayMetrics()
    let audit: AuditWriter
    let jwksClient: HTTPClient
    let limiter: GatewayRateLimiter
    let pageLinks: PageLinkSigner
    /// Open-connection caps (in all and per client IP).
    let admission = ConnectionAdmission()
    /// Bulk Data job records: in Redis when configured (shared by instances), else here.
    let bulkJobs: any BulkJobStore
    private let current: Mutex<GatewaySnapshot>
    private let upstreamUp = Mutex<[String: Bool]>([:])
    let draining = Atomic<Bool>(false)
    let lastReloadError = Mutex<String?>(nil)

    public init(configFile: String, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger) async throws {
        self.configFile = configFile
        self.group = group
        self.logger = logger
        let (config, policies) = try ConfigLoader.load(file: configFile)
        audit = try AuditWriter(path: config.audit.path, fsync: AuditWriter.FsyncMode(rawValue: config.audit.fsync) ?? .interval,
                                rotateBytes: config.audit.rotateBytes, format: AuditWriter.Format(rawValue: config.audit.format) ?? .jsonl,
                                syslog: config.audit.syslog.flatMap { SyslogSink(url: $0) })
        let client = HTTPClient(eventLoopGroup: group, configuration: .init(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(3), read: .seconds(5))))
        let snapshot: GatewaySnapshot
        do {
            snapshot = try GatewaySnapshot(config: config, policies: policies, group: group, jwksClient: client)
        } catch {
            // A start that fails here (a credential or CA file that does not load) stops
            // what it started: the writer's thread, and the HTTP client (which must be).
            try? await client.shutdown()
            await audit.shutdown()
            throw error
        }
        jwksClient = client
        current = Mutex(snapshot)
        var redisClient: RedisClient?
        if let text = config.rateLimit.redis, let url = RedisURL(text) {
            var settings = RedisClient.Settings(url: url)
            settings.commandTimeout = .milliseconds(Int64(config.rateLimit.commandTimeoutMilliseconds))
            redisClient = RedisClient(settings: settings, group: group, logger: Logger(label: "fhirgate.redis"))
        }
        limiter = GatewayRateLimiter(settings: config.rateLimit, redisClient: redisClient)
        bulkJobs = redisClient.map { RedisBulkJobStore(client: $0, prefix: config.rateLimit.keyPrefix) } ?? InProcessBulkJobStore()
        // Instances behind one balancer must share the key (server.page_link_secret_file).
        if let file = config.server.pageLinkSecretFile, let secret = FileManager.default.contents(atPath: file), secret.count >= 16 {
            pageLinks = PageLinkSigner(key: SymmetricKey(data: secret))
        } else {
            pageLinks = PageLinkSigner(key: SymmetricKey(size: .bits256))
        }
        await snapshot.verifier.loadKeys()

    }

    var snapshot: GatewaySnapshot { current.withLock { $0 } }

    public var config: GatewayConfig { snapshot.config }

    /// Loads, validates and builds the whole new set, then swaps it in. On any error
    /// the old set keeps serving and the error is logged with file:line.
    @discardableResult
    public func reload() async -> Bool {
        do {
            // Reading and checking the files (and running every policy's tests: ~0.3 s for
            // 50 policies) blocks: it runs on NIO's blocking pool, not on an event loop,
            // which also runs the gateway's tasks and would stall its connections meanwhile.
            let (configFile, group, jwksClient) = (self.configFile, self.group, self.jwksClient)
            let (config, fresh) = try await NIOThreadPool.singleton.runIfActive { () throws -> (GatewayConfig, GatewaySnapshot) in
                let (config, policies) = try ConfigLoader.load(file: configFile)
                return (config, try GatewaySnapshot(config: config, policies: policies, group: group, jwksClient: jwksClient))
            }
            let current = snapshot
            if config.server.listen != current.config.server.listen {
                logger.warning("server.listen changed: takes effect after a restart")
            }
            if config.rateLimit.redis != current.config.rateLimit.redis || config.rateLimit.onRedisError != current.config.rateLimit.onRedisError {
                logger.warning("rate_limit changed: takes effect after a restart")
            }
            await fresh.verifier.loadKeys()
            // Swap and take what was replaced in one step: reloads can overlap (SIGHUP and
            // the file watcher), and each must retire exactly the snapshot it replaced.
            let old = self.current.withLock { s in
                let replaced = s
                s = fresh
                return replaced
            }
            lastReloadError.withLock { $0 = nil }
            metrics.reload(succeeded: true)
            logger.info("configuration reloaded", metadata: ["routes": "\(config.routes.count)"])
            // Requests already under way keep the old pools until they finish.
            Task { [drain = config.server.drainTimeoutSeconds] in
                try? await Task.sleep(for: .seconds(max(drain, 5)))
                await old.shutdownClients()
            }
            return true
        } catch let errors as ConfigErrors {
            lastReloadError.withLock { $0 = errors.description }
            metrics.reload(succeeded: false)
            for d in errors.diagnostics { logger.error("reload refused, keeping the previous configuration: \(d.description)") }
            return false
        } catch {
            lastReloadError.withLock { $0 = "\(error)" }
            metrics.reload(succeeded: false)
            logger.error("reload refused, keeping the previous configuration: \(error)")
            return false
        }
    }

    func setUpstream(route: String, up: Bool) {
        upstreamUp.withLock { $0[route] = up }
        metrics.setUpstreamUp(route: route, up: up)
    }

    /// Ready when every route's upstream answered its last probe and keys are loaded.
    func isReady() async -> Bool {
        let snap = snapshot
        let ups = upstreamUp.withLock { $0 }
        guard snap.routes.allSatisfy({ ups[$0.settings.name] == true }) else { return false }
        if audit.isFailing && snap.config.audit.onFailure == .deny { return false }
        // With on_redis_error: deny, a dead Redis means this instance refuses traffic.
        if limiter.onRedisError == .deny && !limiter.isHealthy { return false }
        return await snap.verifier.keysHealthy()
    }

    /// Probes each route's upstream `metadata` (no token needed) until cancelled.
    func probeUpstreams() async {
        while !Task.isCancelled {
            for route in snapshot.routes {
                let request = UpstreamRequest(url: route.settings.upstream + "/metadata")
                let up: Bool
                if let response = try? await route.upstream.execute(request, timeout: .seconds(2)) {
                    up = response.status.code < 500
                    _ = try? await response.body.collect(upTo: 4 << 20)
                } else {
                    up = false
                }
                setUpstream(route: route.settings.name, up: up)
            }
            if let redis = limiter.redisClient { metrics.setRedisUp(redis.isHealthy) }
            metrics.setAuditFailing(audit.isFailing)
            // Keys are refreshed in the background before they are due, never on the request path.
            let verifier = snapshot.verifier
            await verifier.refreshDueKeys()
            for (issuer, healthy) in await verifier.keyHealth() { metrics.setKeysUp(issuer: issuer, up: healthy) }
            try? await Task.sleep(for: .seconds(5))
        }
    }

    public func shutdown() async {
        await limiter.redisClient?.close()
        await audit.shutdown()
        await snapshot.shutdownClients()
        try? await jwksClient.shutdown()
    }
}
