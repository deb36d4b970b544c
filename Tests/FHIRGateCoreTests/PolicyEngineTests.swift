import Foundation
import Testing
@testable import FHIRGateCore

/// The policy engine on its own: deny overrides allow, default deny, report-only, the type
/// index, and that nothing it does widens a scope decision.
@Suite struct PolicyEngineTests {
    let authorizer = Authorizer(settings: .init(baseURL: "https://gw/r4"))

    func decide(_ target: String, scope: String, client: String = "app", patient: String? = nil, policy: Policy) -> PolicyDecision {
        let parsed = try! RequestTarget.parse(target)
        let request = try! RequestClassifier().classify(method: .GET, segments: parsed.segments, query: parsed.query)
        let token = AccessToken(issuer: "i", subject: "s", clientID: client, scopes: GrantedScopes(scope), patient: patient, expiresAt: 1e12, tokenHash: "0")
        return PolicyEngine(policy: policy).evaluate(request, token: token, decision: authorizer.decide(request, token: token))
    }

    func policy(_ rules: [PolicyRule], default effect: PolicyRule.Effect = .deny) -> Policy {
        var p = Policy(name: "t")
        p.rules = PolicyRuleSet(rules: rules, defaultEffect: effect)
        return p
    }

    @Test func denyOverridesAllowWhateverTheOrder() {
        let allow = PolicyRule(id: "allow-reads", codes: ["read"], effect: .allow)
        let deny = PolicyRule(id: "no-obs", types: ["Observation"], effect: .deny, status: 404)
        for rules in [[allow, deny], [deny, allow]] {
            let d = decide("/Observation/o1", scope: "user/*.rs", policy: policy(rules))
            #expect(d.effect == .deny(.notFound(reason: "policy_rule:no-obs")))
            #expect(Set(d.matchedRules) == ["allow-reads", "no-obs"])
            #expect(decide("/Condition/c1", scope: "user/*.rs", policy: policy(rules)).isAllowed)
        }
    }

    /// `unverified_types` trusts the upstream for that type's own resources only.
    @Test func unverifiedTypesDropTheirOwnCheckButNotAnIncludes() {
        var p = Policy(name: "t")
        p.patientScopes.unverifiedTypes = ["Observation"]
        let scope = "patient/Observation.rs patient/Patient.rs patient/Provenance.rs"
        #expect(decide("/Observation/o1", scope: scope, patient: "p1", policy: p).responseCheck == nil)
        #expect(decide("/Observation/o1", scope: scope, patient: "p1", policy: Policy(name: "none")).responseCheck != nil)
        let included = decide("/Observation?_revinclude=Provenance:target", scope: scope, patient: "p1", policy: p)
        #expect(included.isAllowed && included.responseCheck?.patient == "p1")
        // Granular scopes are never opted out.
        let granular = decide("/Observation/o1", scope: "patient/Observation.rs?category=laboratory", patient: "p1", policy: p)
        #expect(granular.responseCheck != nil)
    }

    /// `$everything`, a compartment's every type, system-level searches, includes and their
    /// followed pages can bring types the route does not expose: only exposed ones are shown.
    @Test func answersOfManyTypesShowOnlyTheExposedOnes() {
        var p = Policy(name: "t")
        var exposure = Policy.Exposure()
        exposure.types = ["Patient": ["read", "$everything"], "Observation": ["read", "search-type"], "Encounter": ["read"], "Provenance": ["read"]]
        exposure.system = ["search-system"]
        p.exposure = exposure
        let exposed: Set<String> = ["Patient", "Observation", "Encounter", "Provenance"]
        for (target, scope, patient) in [("/Patient/p1/$everything", "patient/*.rs", "p1"), ("/Patient/p1/$everything", "user/*.rs", nil),
                                         ("/Observation?_include=Observation:subject", "user/*.rs", nil), ("/?_type=Observation", "user/*.rs", nil)] {
            let d = decide(target, scope: scope, patient: patient, policy: p)
            #expect(d.isAllowed && d.responseCheck?.visibleTypes == exposed, "\(target) \(scope)")
            #expect(d.responseCheck?.patient == patient)
        }
        // A type's own search or read names its type, and an include that reaches only
        // exposed types adds nothing either (a user/ answer streams).
        #expect(decide("/Observation/o1", scope: "user/*.rs", policy: p).responseCheck == nil)
        #expect(decide("/Observation?code=x", scope: "user/*.rs", policy: p).responseCheck == nil)
        #expect(decide("/Observation?_revinclude=Provenance:target", scope: "user/*.rs", policy: p).responseCheck == nil)
        #expect(decide("/Observation?_include=Observation:subject:Patient", scope: "user/*.rs", policy: p).responseCheck == nil)
        // Observation.subject can be a Group, which this route does not expose.
        #expect(decide("/Observation?_include=Observation:subject", scope: "user/*.rs", policy: p).responseCheck?.visibleTypes == exposed)
        // Only narrowed: a token that sees fewer types keeps its own limit.
        let fewer = decide("/Observation?_include=Observation:subject", scope: "user/Observation.rs user/Patient.rs user/Group.rs", policy: p)
        #expect(fewer.responseCheck?.visibleTypes.map { $0.isSubset(of: exposed) } != false)
        // Report-only files change nothing; a `*` exposure exposes every type.
        var trial = p
        trial.mode = .reportOnly
        #expect(decide("/Patient/p1/$everything", scope: "user/*.rs", policy: trial).responseCheck == nil)
        var open = p
        open.exposure?.anyType = ["read"]
        #expect(decide("/Patient/p1/$everything", scope: "user/*.rs", policy: open).responseCheck == nil)
    }

    @Test func defaultDenyWhenRulesAreListedAndNoneAllows() {
        let p = policy([PolicyRule(id: "reads", codes: ["read"], effect: .allow)])
        #expect(decide("/Observation/o1", scope: "user/*.rs", policy: p).isAllowed)
        #expect(decide("/Observation?code=x", scope: "user/*.rs", policy: p).effect == .deny(.forbidden(reason: "policy_default_deny")))
        let open = policy([PolicyRule(id: "reads", codes: ["read"], effect: .allow)], default: .allow)
        #expect(decide("/Observation?code=x", scope: "user/*.rs", policy: open).isAllowed)
        // No rules at all: the rule stage does not apply.
        #expect(decide("/Observation?code=x", scope: "user/*.rs", policy: Policy(name: "empty")).isAllowed)
    }

    @Test func aPolicyNeverGrantsBeyondTheScopes() {
        let allowAll = policy([PolicyRule(id: "everything", effect: .allow)], default: .allow)
        for (target, scope) in [("/Condition/c1", "user/Observation.rs"), ("/Observation?patient=p2", "patient/Observation.rs"),
                                ("/Observation/o1", "user/Observation.s"), ("/$export", "user/*.rs")] {
            let scopesOnly = authorizer.decide(try! RequestClassifier().classify(method: .GET, segments: try! RequestTarget.parse(target).segments,
                                                                               query: try! RequestTarget.parse(target).query),
                                               token: AccessToken(issuer: "i", subject: "s", clientID: "app", scopes: GrantedScopes(scope),
                                                                  patient: "p1", expiresAt: 1e12, tokenHash: "0"))
            let withPolicy = decide(target, scope: scope, patient: "p1", policy: allowAll)
            #expect(!scopesOnly.isAllowed && withPolicy == scopesOnly, "\(target) \(scope)")
        }
    }

    @Test func reportOnlyChangesNothingButSaysWhatItWouldDeny() {
        var trial = PolicyRule(id: "trial", clients: ["legacy"], effect: .deny)
        trial.mode = .reportOnly
        let p = policy([PolicyRule(id: "reads", codes: ["read"], effect: .allow), trial])
        let d = decide("/Observation/o1", scope: "user/*.rs", client: "legacy", policy: p)
        #expect(d.isAllowed && d.wouldDeny == ["trial"])
        #expect(decide("/Observation/o1", scope: "user/*.rs", client: "other", policy: p).wouldDeny.isEmpty)
        // A whole file in report-only mode: every denial becomes would_deny.
        var file = policy([PolicyRule(id: "no-obs", types: ["Observation"], effect: .deny)])
        file.mode = .reportOnly
        var clients = Policy.ClientRules()
        clients.contexts = [.patient]
        file.clients = clients
        let f = decide("/Observation/o1", scope: "user/*.rs", policy: file)
        #expect(f.isAllowed && f.wouldDeny == ["clients", "no-obs"])
    }

    @Test func exposureAndSearchSurface() {
        var p = Policy(name: "t")
        var exposure = Policy.Exposure()
        exposure.types["Observation"] = ["read", "search-type"]
        p.exposure = exposure
        var surface = Policy.SearchSurface()
        surface.parameters["Observation"] = ["code", "patient"]
        surface.common = ["_count"]
        surface.maxCount = 10
        p.search = surface
        #expect(decide("/Observation?code=x&_count=10", scope: "user/*.rs", policy: p).isAllowed)
        #expect(decide("/Observation?code=x&_count=11", scope: "user/*.rs", policy: p).effect == .deny(.malformedRequest(reason: "policy_count_too_large")))
        #expect(decide("/Observation?status=final", scope: "user/*.rs", policy: p).effect == .deny(.malformedRequest(reason: "policy_search_parameter_not_allowed")))
        #expect(decide("/Observation?patient.name=x", scope: "user/*.rs", policy: p).effect == .deny(.malformedRequest(reason: "policy_chain_not_allowed")))
        #expect(decide("/Observation/o1/_history", scope: "user/*.rs", policy: p).effect == .deny(.methodNotAllowed(reason: "policy_interaction_not_exposed")))
        #expect(decide("/Condition/c1", scope: "user/*.rs", policy: p).effect == .deny(.forbidden(reason: "policy_type_not_exposed")))
    }

    @Test func requireModeRefusesSearchesWithoutThePatient() {
        var p = Policy(name: "t")
        p.patientScopes.compartment = .require
        #expect(decide("/Observation?patient=p1", scope: "patient/*.rs", patient: "p1", policy: p).isAllowed)
        #expect(decide("/Observation?code=x", scope: "patient/*.rs", patient: "p1", policy: p).effect
            == .deny(.forbidden(reason: "policy_patient_parameter_required")))
    }

    @Test func dataRulesAddLabelsToTheResponseCheck() {
        var p = Policy(name: "t")
        p.dataRules = [Policy.DataRule(id: "r", labels: ["http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R"], contexts: [.patient], mode: .enforce)]
        #expect(decide("/Observation/o1", scope: "patient/*.rs", patient: "p1", policy: p).responseCheck?.deniedSecurityLabels.count == 1)
        #expect(decide("/Observation/o1", scope: "user/*.rs", policy: p).responseCheck == nil)
        let labelled: [String: Any] = ["resourceType": "Observation", "subject": ["reference": "Patient/p1"],
                                       "meta": ["security": [["system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"]]]]
        let body = Array(try! JSONSerialization.data(withJSONObject: labelled))
        var check = ResponseCheck(patient: "p1")
        #expect(ResponseGuard(base: "https://gw/r4").check(body, against: check) == .pass)
        check.deniedSecurityLabels = ["http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R"]
        #expect(ResponseGuard(base: "https://gw/r4").check(body, against: check) == .hide)
    }

    @Test func unrelatedRulesAreNotLookedAt() {
        // 1,000 rules about other types and one about Observation: only the latter is a candidate.
        var rules = (0..<1000).map { PolicyRule(id: "r\($0)", types: ["Condition"], effect: .allow) }
        rules.append(PolicyRule(id: "obs", types: ["Observation"], effect: .allow))
        let set = PolicyRuleSet(rules: rules)
        #expect(set.byType["Observation"] == [1000])
        #expect(set.anyType.isEmpty)
        let d = decide("/Observation/o1", scope: "user/*.rs", policy: policy(rules))
        #expect(d.isAllowed && d.matchedRules == ["obs"])
    }

    @Test func coverageFindsShadowedRules() {
        let broad = PolicyRule(id: "deny-obs", types: ["Observation"], effect: .deny)
        let narrow = PolicyRule(id: "allow-obs-read", codes: ["read"], types: ["Observation"], effect: .allow)
        #expect(narrow.isCovered(by: broad))
        #expect(!broad.isCovered(by: narrow))
        #expect(!PolicyRule(id: "x", codes: ["read"], effect: .allow).isCovered(by: broad))
    }
}
