import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import UnixSignals

/// The running gateway as a service: public and admin listeners, upstream probes,
/// SIGHUP and file-watch reload, and SIGTERM drain (stop accepting, let in-flight requests finish
/// within `drain_timeout_seconds`, audit everything, exit).
public final class Gateway: Service, Sendable {
    public let runtime: GatewayRuntime
    let registry = ConnectionRegistry()
    let boundPort = Mutex<Int?>(nil)
    let boundAdminPort = Mutex<Int?>(nil)

    public init(runtime: GatewayRuntime) {
        self.runtime = runtime
    }

    /// The port actually bound (useful with `listen: "127.0.0.1:0"`).
    public var port: Int? { boundPort.withLock { $0 } }
    public var adminPort: Int? { boundAdminPort.withLock { $0 } }

    public func run() async throws {
        // Signals are trapped before anything is bound: a SIGHUP (a reload by an ops script
        // or `systemctl reload`) arriving between "listening" and the reload loop would
        // otherwise meet the default action and terminate the process. One that arrives
        // now is a reload once the loop runs.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let rotations = await UnixSignalsSequence(trapping: .sigusr1)
        let listener = GatewayListener(runtime: runtime, registry: registry)
        let server: any Channel
        do {
            server = try await listener.bind()
        } catch {
            // A port in use (an old instance, another server on 443) is the usual cause:
            // say which address, and stop what the runtime started before exiting.
            await runtime.shutdown()
            throw ListenFailure(key: "server.listen", address: runtime.config.server.listen, underlying: error)
        }
        boundPort.withLock { $0 = server.localAddress?.port }
        var adminServer: AdminListener.Server?
        if let adminSettings = runtime.config.admin {
            do {
                adminServer = try await AdminListener(runtime: runtime).bind(adminSettings.listen)
            } catch {
                try? await server.close()
                await runtime.shutdown()
                throw ListenFailure(key: "admin.listen", address: adminSettings.listen, underlying: error)
            }
            boundAdminPort.withLock { $0 = adminServer?.channel.localAddress?.port }
        }
        let admin = adminServer
        runtime.logger.info("fhirgate listening", metadata: ["listen": "\(runtime.config.server.listen.host):\(port ?? 0)",
                                                            "admin": "\(adminPort.map(String.init) ?? "off")"])
        let runtime = self.runtime
        let registry = self.registry
        await withGracefulShutdownHandler {
            // Background work is cancelled at the end; the listeners are not: they end when
            // their channels close, so no accepted connection is dropped unconsumed.
            let background = Task {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await runtime.probeUpstreams() }
                    group.addTask { await ConfigFileWatcher(runtime: runtime).run() }
                    group.addTask {
                        for await _ in hangups {
                            await runtime.reload()
                        }
                    }
                    group.addTask {
                        // logrotate's postrotate: reopen the audit file.
                        for await _ in rotations {
                            runtime.audit.reopen()
                        }
                    }
                }
            }
            await withTaskGroup(of: Void.self) { group in
                if let admin { group.addTask { try? await AdminListener(runtime: runtime).serve(admin) } }
                // Returns once the listener is closed (drain) and its connections finished.
                await listener.serve(server)
                admin?.channel.close(promise: nil)
            }
            background.cancel()
        } onGracefulShutdown: {
            runtime.logger.info("draining")
            runtime.draining.store(true, ordering: .relaxed)
            server.close(promise: nil)
            admin?.channel.close(promise: nil)
            registry.drain()
            let timeout = runtime.config.server.drainTimeoutSeconds
            Task {
                try? await Task.sleep(for: .seconds(timeout))
                registry.closeAll()
            }
        }
        await runtime.shutdown()
        runtime.logger.info("stopped")
    }
}

import Synchronization

/// A listener that could not be bound, named by its config key and address.
struct ListenFailure: Error, CustomStringConvertible {
    let key: String
    let address: ListenAddress
    let underlying: any Error

    var description: String {
        let reason = (underlying as? IOError).map { String(cString: strerror($0.errnoCode)) } ?? "\(underlying)"
        return "cannot listen on \(address) ('\(key)'): \(reason)"
    }
}
