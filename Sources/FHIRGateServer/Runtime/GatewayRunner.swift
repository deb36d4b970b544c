import Logging
import ServiceLifecycle

/// Runs the gateway under swift-service-lifecycle: SIGTERM and SIGINT start the
/// graceful drain; the process exits 0 once it finished.
public enum GatewayRunner {
    public static func run(_ gateway: Gateway, logger: Logger) async throws {
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: gateway)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        try await group.run()
    }
}
