import Foundation
import Testing

extension IntegrationSuite {
@Suite(.serialized) struct AdminAndCORSTests {
    @Test func preflightIsAnsweredByTheGatewayAndPublicEndpointsNeedNoToken() async throws {
        try await GatewayFixture.with { f in
            let preflight = try await f.client.send(.OPTIONS, "\(f.base)/Observation", headers: [
                ("Origin", "https://app.example"), ("Access-Control-Request-Method", "GET"), ("Access-Control-Request-Headers", "authorization"),
            ])
            #expect(preflight.status == 204)
            #expect(preflight.headers.first(name: "Access-Control-Allow-Origin") == "*")
            #expect(preflight.headers.first(name: "Access-Control-Allow-Headers")?.contains("Authorization") == true)
            #expect(!f.upstream.requestLog.contains { $0.hasPrefix("OPTIONS") })
            let metadata = try await f.client.send(.GET, "\(f.base)/metadata")
            #expect(metadata.status == 200)
            #expect(metadata.headers.first(name: "Access-Control-Allow-Origin") == "*")
            let smart = try await f.client.send(.GET, "\(f.base)/.well-known/smart-configuration")
            #expect(smart.status == 200)
            // A browser app's script can read what it needs from answers and refusals alike
            // (the version for If-Match, the request id, why its token was refused).
            let read = try await f.client.send(.GET, "\(f.base)/Patient/pat-a", token: try f.token("patient/Patient.rs", patient: "pat-a"))
            let refused = try await f.client.send(.GET, "\(f.base)/Patient/pat-a")
            #expect(read.status == 200 && read.headers.first(name: "ETag") != nil && refused.status == 401)
            for answer in [metadata, read, refused] {
                #expect(answer.headers.first(name: "Access-Control-Allow-Origin") == "*")
                let exposed = Set((answer.headers.first(name: "Access-Control-Expose-Headers") ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
                #expect(exposed.isSuperset(of: ["etag", "location", "content-location", "retry-after", "x-progress", "x-request-id", "www-authenticate"]), "\(exposed)")
            }
            #expect(try await f.client.send(.GET, "https://localhost:\(f.gateway.port)/elsewhere/metadata").status == 404)
        }
    }

    @Test func adminListenerReportsHealthReadinessAndMetrics() async throws {
        try await GatewayFixture.with { f in
            let admin = "http://127.0.0.1:\(f.gateway.adminPort)"
            #expect(try await f.client.send(.GET, admin + "/healthz").status == 200)
            // Ready once the first upstream probe answered.
            var ready = 0
            for _ in 0..<40 where ready != 200 {
                ready = try await f.client.send(.GET, admin + "/readyz").status
                if ready != 200 { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(ready == 200)
            _ = try await f.client.send(.GET, "\(f.base)/Patient/pat-a")
            let metrics = try await f.client.send(.GET, admin + "/metrics").text
            #expect(metrics.contains(#"fhirgate_requests_total{route="main",status="401",decision="deny"} 1"#), "\(metrics)")
            #expect(metrics.contains("fhirgate_request_duration_seconds_bucket"))
            #expect(metrics.contains(#"fhirgate_upstream_up{route="main"} 1"#))
            let policies = try await f.client.send(.GET, admin + "/policies")
            #expect(policies.json["last_reload_error"] is NSNull)
        }
    }

    @Test func readinessDropsWhenTheUpstreamIsDown() async throws {
        try await GatewayFixture.with { f in
            let admin = "http://127.0.0.1:\(f.gateway.adminPort)"
            await f.upstream.stop()
            var status = 200
            for _ in 0..<80 where status == 200 {
                status = try await f.client.send(.GET, admin + "/readyz").status
                if status == 200 { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(status == 503)
        }
    }
}

/// Authorization header handling at the HTTP level.
@Suite(.serialized) struct BearerHeaderTests {
    @Test func tokenInQueryAndDuplicateOrMalformedHeadersAreRefused() async throws {
        try await GatewayFixture.with { f in
            let token = try f.token("system/*.rs")
            let inQuery = try await f.client.send(.GET, "\(f.base)/Patient/pat-a?access_token=\(token)")
            #expect(inQuery.status == 400)
            let twice = try await f.client.send(.GET, "\(f.base)/Patient/pat-a", headers: [("Authorization", "Bearer " + token), ("Authorization", "Bearer " + token)])
            #expect(twice.status == 400)
            #expect(twice.headers.first(name: "WWW-Authenticate")?.contains("invalid_request") == true)
            let basic = try await f.client.send(.GET, "\(f.base)/Patient/pat-a", headers: [("Authorization", "Basic Zm9vOmJhcg==")])
            #expect(basic.status == 400)
            let lowercase = try await f.client.send(.GET, "\(f.base)/Patient/pat-a", headers: [("Authorization", "bearer " + token)])
            #expect(lowercase.status == 200)
            let junk = try await f.client.send(.GET, "\(f.base)/Patient/pat-a", headers: [("Authorization", "Bearer abc def")])
            #expect(junk.status == 400)
            // The token never reaches the logs or the audit trail.
            await f.stop()
            #expect(!f.env.auditLines.joined().contains(token))
            #expect(!f.gateway.log.contains(token))
            #expect(f.env.auditLines.contains { $0.contains("\"query\":\"access_token=***\"") })
        }
    }
}
}
