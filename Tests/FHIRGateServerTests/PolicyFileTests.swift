import FHIRGateCore
import Foundation
import Testing
@testable import FHIRGateServer

/// The policy loader: what it compiles, and every mistake located with a hint.
@Suite struct PolicyFileTests {
    func load(_ text: String) -> Result<PolicyFile, ConfigErrors> {
        let file = NSTemporaryDirectory() + "policy-\(UUID().uuidString).yaml"
        try! text.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        do {
            return .success(try PolicyFile.load(file: file))
        } catch {
            return .failure(error)
        }
    }

    func errors(_ text: String) -> [String] {
        guard case .failure(let e) = load(text) else { return [] }
        return e.diagnostics.map { "\($0.line):\($0.column) \($0.message)" + ($0.hint.map { " | " + $0 } ?? "") }
    }

    @Test func presetsCompileFromTheUSCoreTables() throws {
        let p = try load("""
        exposure: { preset: us-core-3.1.1-read, resources: { Patient: [$everything] }, system: [$export] }
        search: { preset: us-core-3.1.1, max_count: 50 }
        """).get().policy
        let exposure = try #require(p.exposure)
        #expect(exposure.allows(type: "Observation", code: "read") && exposure.allows(type: "Observation", code: "search-type"))
        #expect(!exposure.allows(type: "Observation", code: "create") && !exposure.allows(type: "Claim", code: "read"))
        #expect(exposure.allows(type: "Patient", code: "$everything") && exposure.allows(type: "DocumentReference", code: "$docref"))
        #expect(exposure.allows(type: nil, code: "$export"))
        let search = try #require(p.search)
        #expect(search.parameters["Observation"] == ["category", "code", "date", "patient", "status"])
        #expect(search.revincludes["Condition"] == ["Provenance:target"])
        #expect(search.includes["MedicationRequest"] == ["MedicationRequest:medication"])
        #expect(search.common.isSuperset(of: ["_id", "_count", "_lastUpdated"]) && search.maxCount == 50)
    }

    @Test func interactionsOperationsAndTypesAreChecked() {
        let e = errors("""
        exposure:
          resources:
            Observaton: [read]
            Patient: [read, batch, $everythin]
          system: [read]
        """)
        #expect(e.contains { $0.hasPrefix("3:5 unknown resource type 'Observaton'") && $0.contains("did you mean 'Observation'?") }, "\(e)")
        #expect(e.contains { $0.hasPrefix("4:21 unknown or misplaced interaction 'batch'") && $0.contains("exposure.system") }, "\(e)")
        #expect(e.contains { $0.hasPrefix("4:28 unknown operation '$everythin'") && $0.contains("everything") }, "\(e)")
        #expect(e.contains { $0.hasPrefix("5:12 unknown or misplaced interaction 'read'") && $0.contains("exposure.resources") }, "\(e)")
        #expect(e.count == 4)
    }

    @Test func searchParametersAndIncludesAreChecked() {
        let e = errors("""
        search:
          types:
            Observation:
              parameters: [categroy, code]
              include: [Observation:subject, Condition:patient, Observation:code]
              revinclude: [Provenance:target]
        """)
        #expect(e.contains { $0.hasPrefix("4:20 'categroy' is not an R4 search parameter of Observation") && $0.contains("did you mean 'category'?") }, "\(e)")
        #expect(e.contains { $0.hasPrefix("5:38 _include 'Condition:patient' must start at the searched type") }, "\(e)")
        #expect(e.contains { $0.hasPrefix("5:57 'Observation:code' is not a valid _include value") }, "\(e)")
        #expect(e.count == 3)
    }

    @Test func rulesThatCanNeverTakeEffectAreErrors() {
        let e = errors("""
        clients: { contexts: [patient] }
        exposure: { resources: { Observation: [read, search-type] } }
        rules:
          - id: deny-observations
            match: { types: [Observation] }
            effect: deny
          - id: allow-observation-reads
            match: { types: [Observation], interactions: [read] }
            effect: allow
          - id: conditions
            match: { types: [Condition] }
            effect: allow
          - id: clinicians
            match: { contexts: [user] }
            effect: allow
          - id: writes
            match: { interactions: [create] }
            effect: allow
          - id: bad-status
            match: { types: [Observation] }
            effect: deny
            status: 418
        """)
        #expect(e.contains { $0.hasPrefix("7:5 rule 'allow-observation-reads' never takes effect: rule 'deny-observations' (line 4)") }, "\(e)")
        #expect(e.contains { $0.hasPrefix("10:5 rule 'conditions' can never match") }, "\(e)")
        #expect(e.contains { $0.hasPrefix("13:5 rule 'clinicians' can never match: its contexts are not accepted") }, "\(e)")
        #expect(e.contains { $0.hasPrefix("16:5 rule 'writes' can never match: what it matches is not exposed") }, "\(e)")
        #expect(e.contains { $0.hasPrefix("22:13 'rules[5].status' must be one of 400, 403, 404, 405") }, "\(e)")
    }

    @Test func dataRulesAndModesAreChecked() {
        let e = errors("""
        mode: trial
        data_rules:
          - id: restricted
            deny_security_labels: [R, http://terminology.hl7.org/CodeSystem/v3-Confidentiality|V]
            contexts: [patients]
          - id: restricted
            deny_security_labels: []
        """)
        #expect(e.contains { $0.hasPrefix("1:7 '(top level).mode' must be enforce or report-only") }, "\(e)")
        #expect(e.contains { $0.hasPrefix("4:28 security label 'R' must be system|code") }, "\(e)")
        #expect(e.contains { $0.hasPrefix("5:16 unknown scope context 'patients'") }, "\(e)")
        #expect(e.contains { $0.hasPrefix("6:9 duplicate data rule id 'restricted'") }, "\(e)")
    }

    /// A repeated key is named where it repeats, not at the top of the file.
    @Test func aDuplicateKeyIsReportedAtItsRepeat() {
        let e = errors("""
        name: t
        search:
          common: [_count]
          types:
            Observation:
              parameters: [code]
              parameters: [date]
          common: [_id]
        """)
        // Yams stops at the first mapping with a repeat (the innermost, composed first).
        #expect(e.contains { $0.hasPrefix("7:7 duplicate key 'parameters'") }, "\(e)")
        #expect(!e.contains { $0.hasPrefix("1:1") }, "\(e)")
    }

    /// What an operator's editor gets wrong: tabs, another encoding; problems in reading order.
    @Test func tabsEncodingsAndOrderAreReportedPrecisely() throws {
        let tab = errors("name: t\nexposure:\n\tpreset: g10\n")
        #expect(tab.contains { $0.hasPrefix("3:1 YAML syntax:") && $0.contains("tabs") }, "\(tab)")
        let unordered = errors("name: t\nsearch:\n  max_count: -1\npatient_scopes:\n  compartment: narow\nexposure:\n  types: [x]\n")
        let lines = unordered.compactMap { Int($0.prefix { $0 != ":" }) }
        #expect(lines.count >= 3 && lines == lines.sorted(), "\(unordered)")
        let dir = NSTemporaryDirectory() + "fhirgate-encoding-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/latin1.yaml"
        try Data("name: t\ndescription: caf\u{E9}\n".data(using: .isoLatin1)!).write(to: URL(fileURLWithPath: file))
        #expect(throws: ConfigErrors.self) { try PolicyFile.load(file: file) }
        do {
            _ = try PolicyFile.load(file: file)
        } catch {
            #expect(error.diagnostics.map { "\($0.line):\($0.column) \($0.message)" } == ["2:17 the policy file is not UTF-8 text"])
        }
    }

    @Test func bulkExportIsNeverOpenToPatientScopes() {
        let e = errors("""
        bulk_export:
          contexts: [system, patient]
        """)
        #expect(e.contains { $0.hasPrefix("2:22 'bulk_export.contexts' cannot include patient") }, "\(e)")
        // And the decision refuses it even if settings say otherwise.
        let authorizer = Authorizer(settings: .init(baseURL: "https://gw.example/r4", bulk: .init(contexts: [.patient, .system])))
        let request = FHIRRequest(method: .GET, interaction: .operationType, resourceType: "Patient", operation: "export")
        let token = AccessToken(issuer: "https://as.example", subject: "u", clientID: "app", scopes: GrantedScopes("patient/*.read"), patient: "p1",
                                expiresAt: 4_102_444_800, tokenHash: "0")
        #expect(authorizer.decide(request, token: token).effect == .deny(.insufficientScope(reason: "bulk_export_context")))
    }

    @Test func theShippedPoliciesLoad() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for name in ["g10-patient-facing", "g10-provider-facing", "bulk-export"] {
            let policy = try PolicyFile.load(file: root.appendingPathComponent("Policies/\(name).yaml").path)
            #expect(policy.name == name)
            #expect(policy.testsFile != nil)
            let suite = try PolicyTestSuite.load(file: try #require(policy.testsFile))
            #expect(suite.cases.count >= 40)
            let result = PolicyTestRunner.run(suite, policy: policy)
            #expect(result.failed == 0, "\(result.failures.map(\.description))")
        }
    }
}
