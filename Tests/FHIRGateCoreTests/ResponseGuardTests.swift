import Foundation
import Testing
@testable import FHIRGateCore

@Suite struct ResponseGuardTests {
    let guardian = ResponseGuard(base: "https://gw.example/r4")
    static let lab = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"

    func observation(_ id: String, patient: String, category: String, performer: String? = nil) -> [String: Any] {
        var r: [String: Any] = ["resourceType": "Observation", "id": id, "subject": ["reference": "Patient/\(patient)"],
                                "category": [["coding": [["system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": category]]]]]
        if let performer { r["performer"] = [["reference": performer]] }
        return r
    }

    func bundle(_ resources: [[String: Any]]) -> [UInt8] {
        let b: [String: Any] = ["resourceType": "Bundle", "type": "searchset", "total": resources.count, "entry": resources.map { ["resource": $0] }]
        return Array(try! JSONSerialization.data(withJSONObject: b))
    }

    func ids(_ verdict: ResponseGuard.Verdict, original: [UInt8]) -> [String] {
        let bytes: [UInt8]
        switch verdict {
        case .pass: bytes = original
        case .replace(let b, _): bytes = b
        default: return []
        }
        let obj = try! JSONSerialization.jsonObject(with: Data(bytes)) as! [String: Any]
        return (obj["entry"] as? [[String: Any]] ?? []).compactMap { ($0["resource"] as? [String: Any])?["id"] as? String }
    }

    @Test func granularScopeKeepsOnlyMatchingCategory() throws {
        let scope = try #require(SMARTScope.parse("patient/Observation.rs?category=\(Self.lab)"))
        let body = bundle([observation("lab", patient: "a", category: "laboratory"), observation("vital", patient: "a", category: "vital-signs")])
        let verdict = guardian.check(body, against: ResponseCheck(patient: "a", granular: ["Observation": [scope]]))
        #expect(ids(verdict, original: body) == ["lab"])
    }

    @Test func otherPatientsEntriesAreRemovedAndTotalDropped() {
        let body = bundle([observation("mine", patient: "a", category: "laboratory"), observation("theirs", patient: "b", category: "laboratory")])
        let verdict = guardian.check(body, against: ResponseCheck(patient: "a"))
        #expect(ids(verdict, original: body) == ["mine"])
        if case .replace(let bytes, let removed) = verdict {
            #expect(removed == 1)
            let obj = try! JSONSerialization.jsonObject(with: Data(bytes)) as! [String: Any]
            #expect(obj["total"] == nil)
        } else {
            Issue.record("expected a replaced body")
        }
    }

    @Test func performerPutsResourceInCompartment() {
        let r = observation("x", patient: "b", category: "survey", performer: "Patient/a")
        #expect(ResourceInspector.isInCompartment(r, patient: "a", base: "https://gw.example/r4"))
        #expect(!ResourceInspector.isInCompartment(r, patient: "c", base: "https://gw.example/r4"))
    }

    @Test func idPrefixNeverMatches() {
        let r = observation("x", patient: "123", category: "laboratory")
        #expect(!ResourceInspector.isInCompartment(r, patient: "12", base: "https://gw.example/r4"))
    }

    @Test func singleReadOfOtherPatientIsHidden() {
        let body = Array(try! JSONSerialization.data(withJSONObject: observation("t", patient: "b", category: "laboratory")))
        #expect(guardian.check(body, against: ResponseCheck(patient: "a")) == .hide)
    }

    @Test func unparseableIsRefused() {
        #expect(guardian.check(Array("<xml/>".utf8), against: ResponseCheck(patient: "a")) == .unverifiable)
    }

    @Test func provenanceOfShownResourcesIsKept() {
        let obs = observation("o1", patient: "a", category: "laboratory")
        let prov: [String: Any] = ["resourceType": "Provenance", "id": "p1", "target": [["reference": "Observation/o1"]]]
        let stray: [String: Any] = ["resourceType": "Provenance", "id": "p2", "target": [["reference": "Condition/of-b"]]]
        let body = bundle([obs, prov, stray])
        #expect(ids(guardian.check(body, against: ResponseCheck(patient: "a")), original: body) == ["o1", "p1"])
    }
}
