import Foundation
import Testing

extension IntegrationSuite {
/// Policies in the running gateway: report-only marking, data rules, hot reload by file
/// watch under load, and refusal of broken policies and failing policy tests.
@Suite(.serialized) struct PolicyIntegrationTests {
    static let basePolicy = """
    name: trial
    clients: { contexts: [patient, user] }
    data_rules:
      - id: withhold-restricted
        deny_security_labels: [http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R]
        contexts: [patient]
      - id: trial-restricted-for-clinicians
        deny_security_labels: [http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R]
        contexts: [user]
        mode: report-only
    rules:
      - id: reads
        match: { interactions: [read, search-type] }
        effect: allow
      - id: trial-block-legacy
        match: { clients: [legacy-app] }
        effect: deny
        mode: report-only
      - id: block-retired
        match: { clients: [retired-app] }
        effect: deny
    """

    func options(_ policy: String = basePolicy) -> TestEnvironment.Options {
        var o = TestEnvironment.Options()
        o.policy = policy
        return o
    }

    func auditLine(_ f: GatewayFixture, requestID: String?) async throws -> String? {
        for _ in 0..<50 {
            if let id = requestID, let line = f.env.auditLines.first(where: { $0.contains(id) }) { return line }
            try await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    @Test func reportOnlyRulesChangeNoResponseButMarkTheAuditRecord() async throws {
        try await GatewayFixture.with(options()) { f in
            let plain = try await f.client.send(.GET, "\(f.base)/Observation", token: try f.token("patient/*.rs", patient: "pat-a"))
            let legacy = try await f.client.send(.GET, "\(f.base)/Observation", token: try f.token("patient/*.rs", patient: "pat-a", client: "legacy-app"))
            #expect(plain.status == 200 && legacy.status == 200)
            #expect(plain.json["entry"].map { ($0 as? [Any])?.count } == legacy.json["entry"].map { ($0 as? [Any])?.count })
            let marked = try #require(try await auditLine(f, requestID: legacy.headers.first(name: "x-request-id")))
            #expect(marked.contains(#""would_deny":"trial-block-legacy""#), "\(marked)")
            let unmarked = try #require(try await auditLine(f, requestID: plain.headers.first(name: "x-request-id")))
            #expect(!unmarked.contains("would_deny"))
            // An enforcing deny rule does change the answer, and names the rule.
            let retired = try await f.client.send(.GET, "\(f.base)/Observation", token: try f.token("patient/*.rs", patient: "pat-a", client: "retired-app"))
            #expect(retired.status == 403 && retired.headers.first(name: "www-authenticate") != nil)
            let denied = try #require(try await auditLine(f, requestID: retired.headers.first(name: "x-request-id")))
            #expect(denied.contains(#""policy_rule":"block-retired""#) && denied.contains(#""decision":"deny""#))
            // A policy never grants beyond the scopes: the allow rule does not help a token without Condition.
            #expect(try await f.client.send(.GET, "\(f.base)/Condition", token: try f.token("patient/Observation.rs", patient: "pat-a")).status == 403)
        }
    }

    @Test func dataRulesWithholdLabelledRecordsAndTrialsOnlyMark() async throws {
        try await GatewayFixture.with(options()) { f in
            func ids(_ r: TestClient.Response) -> [String] {
                (r.json["entry"] as? [[String: Any]] ?? []).compactMap { ($0["resource"] as? [String: Any])?["id"] as? String }
            }
            // C's patient app: the restricted record is withheld from searches and reads.
            let c = try f.token("patient/*.rs", patient: "pat-c")
            let search = try await f.client.send(.GET, "\(f.base)/Observation", token: c)
            #expect(ids(search).contains("obs-vital-pat-c") && !ids(search).contains("obs-restricted-pat-c"))
            let byID = try await f.client.send(.GET, "\(f.base)/Observation/obs-restricted-pat-c", token: c)
            let missing = try await f.client.send(.GET, "\(f.base)/Observation/no-such-id", token: c)
            #expect(byID.status == 404 && byID.body == missing.body)
            // A first page that withholds nothing must not tell, by the upstream's total (which
            // counts the restricted record), that something is withheld on another page.
            let firstPage = try await f.client.send(.GET, "\(f.base)/Observation?_count=1", token: c)
            #expect(firstPage.status == 200 && ids(firstPage).count == 1 && firstPage.json["total"] == nil, "\(firstPage.text)")
            // A clinician (report-only rule): sees it, and the audit record says it would not have.
            let clinician = try await f.client.send(.GET, "\(f.base)/Observation?patient=pat-c", token: try f.token("user/*.rs"))
            #expect(ids(clinician).contains("obs-restricted-pat-c"))
            // Nothing is checked for it (a report-only rule changes no response): the total stays.
            #expect(clinician.json["total"] as? Int == ids(clinician).count)
            let line = try #require(try await auditLine(f, requestID: clinician.headers.first(name: "x-request-id")))
            #expect(line.contains(#""would_deny":"trial-restricted-for-clinicians""#), "\(line)")
        }
    }

    /// The route exposes Patient ($everything), Observation and Encounter: a `$everything`
    /// answer (which an EHR fills with every compartment type) shows only those, under
    /// `user/` scopes as well as `patient/`.
    @Test func everythingShowsOnlyTheTypesTheRouteExposes() async throws {
        let policy = """
        name: narrow
        exposure:
          resources:
            Patient: [read, $everything]
            Observation: [read, search-type]
            Encounter: [read]
        """
        try await GatewayFixture.with(options(policy)) { f in
            for token in [try f.token("patient/*.rs", patient: "pat-a"), try f.token("user/*.rs")] {
                let everything = try await f.client.send(.GET, "\(f.base)/Patient/pat-a/$everything", token: token)
                let types = Set((everything.json["entry"] as? [[String: Any]] ?? []).compactMap { ($0["resource"] as? [String: Any])?["resourceType"] as? String })
                #expect(everything.status == 200 && types == ["Patient", "Observation", "Encounter"], "\(types)")
            }
            // The upstream did send the others.
            #expect(f.upstream.requestLog.contains { $0.hasPrefix("GET /fhir/Patient/pat-a/$everything") })
            let direct = try await f.client.send(.GET, "\(f.base)/Condition/cond-pat-a", token: try f.token("user/*.rs"))
            #expect(direct.status == 403)
        }
    }

    @Test func brokenPolicyUnderLoadKeepsTheOldOneAndAFixIsPickedUpWithoutRestart() async throws {
        try await GatewayFixture.with(options()) { f in
            let admin = "http://127.0.0.1:\(f.gateway.adminPort)"
            let policyFile = f.env.directory + "/policy.yaml"
            let hash = try #require(((try await f.client.send(.GET, admin + "/policies")).json["policies"] as? [[String: Any]])?.first?["hash"] as? String)
            let token = try f.token("patient/*.rs", patient: "pat-a")
            // Load from four clients while the policy is broken.
            let load = SteadyLoad(f, url: "\(f.base)/Observation", token: token)
            try await Task.sleep(for: .milliseconds(300))
            // Half-written, then wrong in three ways.
            try "name: trial\nrules:\n  - id: reads\n    match: { interactions: [read, sear".write(toFile: policyFile, atomically: false, encoding: .utf8)
            try await Task.sleep(for: .milliseconds(600))
            try "name: trial\nexposur: {}\nrules:\n  - id: reads\n    match: { interactions: [reed] }\n    effect: allow\n  - id: reads\n    effect: allow\n"
                .write(toFile: policyFile, atomically: false, encoding: .utf8)
            var error: String?
            for _ in 0..<40 where error == nil {
                try await Task.sleep(for: .milliseconds(100))
                error = (try await f.client.send(.GET, admin + "/policies")).json["last_reload_error"] as? String
            }
            let reloadError = try #require(error)
            #expect(reloadError.contains("policy.yaml:2:1") && reloadError.contains("policy.yaml:5:29"), "\(reloadError)")
            try await Task.sleep(for: .milliseconds(500))
            let (sent, failed) = try await load.finish()
            #expect(sent > 20)
            #expect(failed == 0, "\(failed) of \(sent) requests failed while the policy was broken")
            let policies = try await f.client.send(.GET, admin + "/policies").json["policies"] as? [[String: Any]]
            #expect(policies?.first?["hash"] as? String == hash)
            #expect((try await f.client.send(.GET, admin + "/metrics")).text.contains(#"fhirgate_reloads_total{result="failure"}"#))

            // The fix (which now also refuses app) is picked up without a restart.
            try (Self.basePolicy + "\n  - id: block-app\n    match: { clients: [test-app] }\n    effect: deny\n")
                .write(toFile: policyFile, atomically: true, encoding: .utf8)
            var status = 200
            for _ in 0..<40 where status == 200 {
                try await Task.sleep(for: .milliseconds(100))
                status = try await f.client.send(.GET, "\(f.base)/Observation", token: token).status
            }
            #expect(status == 403)
            #expect((try await f.client.send(.GET, admin + "/policies")).json["last_reload_error"] is NSNull)
        }
    }

    @Test func aPolicyWhoseTestsFailIsRefused() async throws {
        try await GatewayFixture.with(options()) { f in
            let admin = "http://127.0.0.1:\(f.gateway.adminPort)"
            try """
            cases:
              - name: retired app is allowed (wrong on purpose)
                request: GET /Observation
                claims: { scope: "patient/*.rs", patient: pat-a, client_id: retired-app }
                expect: { decision: narrowed }
            """.write(toFile: f.env.directory + "/policy.tests.yaml", atomically: true, encoding: .utf8)
            var error: String?
            for _ in 0..<40 where error == nil {
                try await Task.sleep(for: .milliseconds(100))
                error = (try await f.client.send(.GET, admin + "/policies")).json["last_reload_error"] as? String
            }
            #expect(error?.contains("policy.tests.yaml:2:") == true && error?.contains("retired app is allowed") == true, "\(error ?? "no error")")
        }
    }
}
}
