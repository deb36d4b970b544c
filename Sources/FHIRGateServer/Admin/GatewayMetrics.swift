import Prometheus
import Synchronization

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

    /// The per-request handles, looked up in the registry once per label set: the
    /// registry's own lookup builds label arrays and strings on every call.
    private struct RequestHandles {
        var counters: [CounterKey: Counter] = [:]
        var durations: [String: (request: DurationHistogram, upstream: DurationHistogram)] = [:]
    }

    private struct CounterKey: Hashable {
        let route: String
        let status: Int
        let decision: String
    }

    private let handles = Mutex(RequestHandles())

    func requestFinished(route: String, status: Int, decision: String, duration: Duration, upstream: Duration?) {
        let key = CounterKey(route: route, status: status, decision: decision)
        let (counter, histograms) = handles.withLock { h in
            (h.counters[key], h.durations[route])
        }
        (counter ?? makeCounter(key)).increment()
        let (requestHistogram, upstreamHistogram) = histograms ?? makeHistograms(route)
        requestHistogram.record(duration)
        if let upstream { upstreamHistogram.record(upstream) }
    }

    private func makeCounter(_ key: CounterKey) -> Counter {
        let counter = registry.makeCounter(descriptor: Self.requests,
                                           labels: [("route", key.route), ("status", String(key.status)), ("decision", key.decision)])
        handles.withLock { $0.counters[key] = counter }
        return counter
    }

    private func makeHistograms(_ route: String) -> (request: DurationHistogram, upstream: DurationHistogram) {
        let made = (request: registry.makeDurationHistogram(descriptor: Self.duration, labels: [("route", route)], buckets: Self.buckets),
                    upstream: registry.makeDurationHistogram(descriptor: Self.upstreamDuration, labels: [("route", route)], buckets: Self.buckets))
        handles.withLock { $0.durations[route] = made }
        return made
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
