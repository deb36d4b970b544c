import Foundation
import Testing
@testable import FHIRGateCore

/// What an `_include`/`_revinclude` brings back is held to the scopes of its own type:
/// a type that only granular scopes grant shows only entries matching them.
@Suite struct IncludeScopeTests {
    static let base = "https://gw.example.org/r4"
    static let lab = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"

    func decide(_ target: String, scope: String, patient: String? = nil) throws -> PolicyDecision {
        let parsed = try RequestTarget.parse("/r4" + target)
        let request = try RequestClassifier().classify(method: .GET, segments: Array(parsed.segments.dropFirst()), query: parsed.query)
        return Authorizer(settings: .init(baseURL: Self.base)).decide(request, token: Harness.token(scope, patient: patient))
    }

    func observation(_ id: String, _ category: String) -> [String: Any] {
        ["resourceType": "Observation", "id": id, "subject": ["reference": "Patient/p1"], "encounter": ["reference": "Encounter/e1"],
         "category": [["coding": [["system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": category]]]]]
    }

    func shownIDs(_ decision: PolicyDecision) throws -> [String] {
        let bundle: [String: Any] = ["resourceType": "Bundle", "type": "searchset", "entry": [
            ["resource": ["resourceType": "Encounter", "id": "e1", "subject": ["reference": "Patient/p1"]]],
            ["resource": observation("lab", "laboratory")],
            ["resource": observation("vital", "vital-signs")],
        ]]
        let body = Array(try JSONSerialization.data(withJSONObject: bundle))
        let check = try #require(decision.responseCheck, "an included granular type needs the guard")
        let bytes: [UInt8]
        switch ResponseGuard(base: Self.base).check(body, against: check) {
        case .pass: bytes = body
        case .replace(let b, _): bytes = b
        default: return []
        }
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        return (object["entry"] as? [[String: Any]] ?? []).compactMap { ($0["resource"] as? [String: Any])?["id"] as? String }
    }

    @Test(arguments: [("user", nil), ("patient", "p1")] as [(String, String?)])
    func includedObservationsMatchTheGranularScope(context: String, patient: String?) throws {
        let scope = "\(context)/Encounter.rs \(context)/Observation.rs?category=\(Self.lab)"
        let decision = try decide("/Encounter?_revinclude=Observation:encounter", scope: scope, patient: patient)
        #expect(decision.isAllowed)
        #expect(try shownIDs(decision) == ["e1", "lab"])
    }

    @Test func aResourceLevelGrantForTheIncludedTypeNeedsNoFilter() throws {
        let decision = try decide("/Encounter?_revinclude=Observation:encounter", scope: "user/Encounter.rs user/Observation.rs user/Observation.rs?category=\(Self.lab)")
        #expect(decision.isAllowed && decision.responseCheck == nil)
    }

    @Test func theSearchedTypesOwnFullGrantIsNotNarrowedByAnInclude() throws {
        // Observation searched with a full grant, including more Observations (has-member).
        let decision = try decide("/Observation?_include=Observation:has-member:Observation", scope: "user/Observation.rs")
        #expect(decision.isAllowed && decision.responseCheck?.granular["Observation"] == nil)
    }
}
