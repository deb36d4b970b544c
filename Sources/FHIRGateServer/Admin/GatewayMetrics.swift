import Prometheus

/// The gateway's Prometheus metrics. One registry per gateway instance (not the global
/// swift-metrics bootstrap), so several gateways can run in one test process.
final class GatewayMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    static let buckets: [Duration] = [.milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                                      .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
                                      .seconds(2.5), .seconds(5), .seconds(10)]
    static var requests: MetricNameDescriptor { MetricNameDescriptor(namespace: "fhirgate", metricName: "requests", unitName: "total",
                                               helpText: "Requests answered, by route, status and decision") }
    static var duration: MetricNameDescriptor { MetricNameDescriptor(namespace: "fhirgate", metricName: "request_duration", unitName: "seconds",
                                               helpText: "Time from request head to last response byte") }
    static var upstreamDuration: MetricNameDescriptor { MetricNameDescriptor(namespace: "fhirgate", metricName: "upstream_duration", unitName: "seconds",
                                                       helpText: "Time until the upstream response head") }
    static var reloads: MetricNameDescriptor { MetricNameDescriptor(namespace: "fhirgate", metricName: "reloads", unitName: "total",
                                              helpText: "Configuration reloads by result") }
    static var upstreamUp: MetricNameDescriptor { MetricNameDescriptor(namespace: "fhirgate", metricName: "upstream", unitName: "up",
                                                 helpText: "Whether the route's upstream answered its last probe") }

    func requestFinished(route: String, status: Int, decision: String, duration: Duration, upstream: Duration?) {
        registry.makeCounter(descriptor: Self.requests, labels: [("route", route), ("status", String(status)), ("decision", decision)]).increment()
        registry.makeDurationHistogram(descriptor: Self.duration, labels: [("route", route)], buckets: Self.buckets).record(duration)
        if let upstream {
            registry.makeDurationHistogram(descriptor: Self.upstreamDuration, labels: [("route", route)], buckets: Self.buckets).record(upstream)
        }
    }

    static var connectionsRefused: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "fhirgate", metricName: "connections_refused", unitName: "total",
                             helpText: "Connections closed on accept because a connection cap was reached")
    }

    func connectionRefused() {
        registry.makeCounter(descriptor: Self.connectionsRefused).increment()
    }

    func reload(succeeded: Bool) {
        registry.makeCounter(descriptor: Self.reloads, labels: [("result", succeeded ? "success" : "failure")]).increment()
    }

    func setUpstreamUp(route: String, up: Bool) {
        registry.makeGauge(descriptor: Self.upstreamUp, labels: [("route", route)]).set(to: up ? 1.0 : 0.0)
    }

    static var redisUp: MetricNameDescriptor { MetricNameDescriptor(namespace: "fhirgate", metricName: "redis", unitName: "up",
                                                                    helpText: "Whether the Redis circuit breaker is closed") }

    func setRedisUp(_ up: Bool) {
        registry.makeGauge(descriptor: Self.redisUp).set(to: up ? 1.0 : 0.0)
    }

    static var keysUp: MetricNameDescriptor { MetricNameDescriptor(namespace: "fhirgate", metricName: "jwks", unitName: "up",
                                                                   helpText: "Whether the issuer's signing keys loaded at the last attempt") }

    func setKeysUp(issuer: String, up: Bool) {
        registry.makeGauge(descriptor: Self.keysUp, labels: [("issuer", issuer)]).set(to: up ? 1.0 : 0.0)
    }

    static var auditFailing: MetricNameDescriptor { MetricNameDescriptor(namespace: "fhirgate", metricName: "audit_write", unitName: "failing",
                                                                         helpText: "1 while audit records cannot be written (they are retried)") }

    func setAuditFailing(_ failing: Bool) {
        registry.makeGauge(descriptor: Self.auditFailing).set(to: failing ? 1.0 : 0.0)
    }

    func text() -> String { registry.emitToString() }
}
