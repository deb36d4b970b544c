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

    func tree(_ object: [String: Any]) -> JSONValue {
        ResourceInspector.parse(Array(try! JSONSerialization.data(withJSONObject: object)))!
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

    /// The upstream's total counts what it matched: under a check it would tell how much is
    /// withheld (labelled records, other pages), so it goes even when this page loses nothing;
    /// with no check it stays.
    @Test func aCheckedBundleCarriesNoUpstreamTotal() throws {
        let mine = bundle([observation("mine", patient: "a", category: "laboratory")])
        var labels = ResponseCheck(patient: "a")
        labels.deniedSecurityLabels = ["http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R"]
        for check in [ResponseCheck(patient: "a"), labels] {
            guard case .replace(let bytes, let removed) = guardian.check(mine, against: check) else {
                Issue.record("expected the total to be taken out")
                continue
            }
            let obj = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
            #expect(removed == 0 && obj["total"] == nil && ids(.replace(bytes, removed: 0), original: bytes) == ["mine"])
        }
        // `_summary=count`'s answer is only a total.
        let count = Array(#"{"resourceType":"Bundle","type":"searchset","total":4}"#.utf8)
        #expect(guardian.check(count, against: labels) == .replace(Array(#"{"resourceType":"Bundle","type":"searchset"}"#.utf8), removed: 0))
        #expect(guardian.process(mine, check: nil, rewriteLink: nil) == .pass)
    }

    /// References as written by upstreams that do not escape slashes (most of them) take
    /// a byte-wise fast path; every other form is parsed. Both must agree.
    @Test func referenceFormsAreReadAlike() throws {
        let base = "https://gw.example/r4"
        func member(_ reference: String, _ patient: String = "a") throws -> Bool {
            let r = try #require(ResourceInspector.parse(Array(#"{"resourceType":"Observation","id":"x","subject":{"reference":"\#(reference)"}}"#.utf8)))
            return ResourceInspector.isInCompartment(r, patient: patient, base: base)
        }
        #expect(try member("Patient/a"))
        #expect(try member(#"Patient\/a"#))
        #expect(try member(#"Patient\u002Fa"#))
        #expect(try member("Patient/a/_history/2"))
        #expect(try member("https://gw.example/r4/Patient/a"))
        #expect(try member(#"https:\/\/gw.example\/r4\/Patient\/a"#))
        #expect(try !member("Patient/ab"))
        #expect(try !member("Patient/a/"))
        #expect(try !member("Patient/"))
        #expect(try !member("Patient/a", ""))
        #expect(try !member("Patient/a ", "a"))
        #expect(try !member("Group/a"))
        #expect(try !member("https://elsewhere.example/r4/Patient/a"))
        #expect(try !member("patient/a"))
        // A "patient" that is not an id is never matched byte-wise (the parser reads `a`).
        #expect(try !member("Patient/a/_history/1", "a/_history/1"))
        #expect(try member("Patient/a/_history/1", "a"))
    }

    /// An upstream that writes absolute references writes its own base: those name the
    /// same resources as relative ones. Other servers' URLs never match.
    @Test func absoluteReferencesUnderTheUpstreamBaseAreItsOwn() {
        let guardian = ResponseGuard(base: "https://gw.example/r4", upstreamBases: ["http://ehr.internal:8080/fhir"])
        let body = bundle([
            observation("upstream-abs", patient: "x", category: "laboratory", performer: nil).merging(["subject": ["reference": "http://ehr.internal:8080/fhir/Patient/a"]]) { $1 },
            observation("public-abs", patient: "x", category: "laboratory").merging(["subject": ["reference": "https://gw.example/r4/Patient/a"]]) { $1 },
            observation("upstream-other", patient: "x", category: "laboratory").merging(["subject": ["reference": "http://ehr.internal:8080/fhir/Patient/b"]]) { $1 },
            observation("sibling-path", patient: "x", category: "laboratory").merging(["subject": ["reference": "http://ehr.internal:8080/fhir2/Patient/a"]]) { $1 },
            observation("elsewhere", patient: "x", category: "laboratory").merging(["subject": ["reference": "http://ehr.example:8080/fhir/Patient/a"]]) { $1 },
        ])
        #expect(ids(guardian.check(body, against: ResponseCheck(patient: "a")), original: body) == ["upstream-abs", "public-abs"])
        // Without the upstream base only the public one is known.
        #expect(ids(self.guardian.check(body, against: ResponseCheck(patient: "a")), original: body) == ["public-abs"])
    }

    /// A type outside the R4 compartment is shown through its `patient` reference
    /// (Device.patient); a type whose `patient` parameter is one of its compartment paths
    /// is not read twice.
    @Test func devicesAreShownThroughTheirPatientReference() throws {
        #expect(ResourceInspector.patientLinksBeyondCompartment["Device"] != nil)
        #expect(ResourceInspector.patientLinksBeyondCompartment["Observation"] == nil)
        #expect(ResourceInspector.patientLinksBeyondCompartment["Patient"] == nil)
        let body = bundle([["resourceType": "Device", "id": "mine", "patient": ["reference": "Patient/a"]],
                           ["resourceType": "Device", "id": "theirs", "patient": ["reference": "Patient/b"]],
                           ["resourceType": "Device", "id": "nobody's"]])
        #expect(ids(guardian.check(body, against: ResponseCheck(patient: "a")), original: body) == ["mine"])
    }

    @Test func performerPutsResourceInCompartment() {
        let r = tree(observation("x", patient: "b", category: "survey", performer: "Patient/a"))
        #expect(ResourceInspector.isInCompartment(r, patient: "a", base: "https://gw.example/r4"))
        #expect(!ResourceInspector.isInCompartment(r, patient: "c", base: "https://gw.example/r4"))
    }

    @Test func idPrefixNeverMatches() {
        let r = tree(observation("x", patient: "123", category: "laboratory"))
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
        // Not where Provenance is not seen at all (a token or route without it).
        let noProvenance = ResponseCheck(patient: "a", visibleTypes: ["Observation"])
        #expect(ids(guardian.check(body, against: noProvenance), original: body) == ["o1"])
        // Its targets vouch for the compartment only: a data rule's label still withholds it.
        var labelled = prov
        labelled["meta"] = ["security": [["system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"]]]
        var withheld = ResponseCheck(patient: "a")
        withheld.deniedSecurityLabels = ["http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R"]
        let labelledBody = bundle([obs, labelled])
        #expect(ids(guardian.check(labelledBody, against: withheld), original: labelledBody) == ["o1"])
    }

    @Test func linkedPatientIsShownOnlyWhenPolicyFollowsLinks() {
        let old: [String: Any] = ["resourceType": "Patient", "id": "a-old", "link": [["other": ["reference": "Patient/a"], "type": "replaced-by"]]]
        let body = Array(try! JSONSerialization.data(withJSONObject: old))
        #expect(guardian.check(body, against: ResponseCheck(patient: "a")) == .hide)
        #expect(guardian.check(body, against: ResponseCheck(patient: "a", followPatientLinks: true)) == .pass)
        // A link to someone else, or to an id that only starts the same, stays hidden.
        let other: [String: Any] = ["resourceType": "Patient", "id": "x", "link": [["other": ["reference": "Patient/ab"]]]]
        #expect(guardian.check(Array(try! JSONSerialization.data(withJSONObject: other)), against: ResponseCheck(patient: "a", followPatientLinks: true)) == .hide)
    }

    @Test func instanceHistoryWithNothingVisibleLooksMissing() {
        let body = bundle([observation("theirs", patient: "b", category: "laboratory")])
        var check = ResponseCheck(patient: "a")
        #expect(ids(guardian.check(body, against: check), original: body).isEmpty)
        check.hideWhenEmptied = true
        #expect(guardian.check(body, against: check) == .hide)
        // A mix keeps the visible versions.
        let mixed = bundle([observation("v2", patient: "a", category: "laboratory"), observation("v1", patient: "b", category: "laboratory")])
        #expect(ids(guardian.check(mixed, against: check), original: mixed) == ["v2"])
    }
}

@Suite struct PatchDocumentCheckTests {
    func check(_ json: String, _ type: String = "Observation") -> String? {
        PatchDocumentCheck.check(Array(json.utf8), type: type)?.reason
    }

    @Test func protectedElementsComeFromTheCompartmentDefinition() {
        #expect(PatchDocumentCheck.protectedElements(of: "Observation").isSuperset(of: ["subject", "performer", "id", "resourceType"]))
        #expect(PatchDocumentCheck.protectedElements(of: "Provenance").contains("target"))
        #expect(PatchDocumentCheck.protectedElements(of: "Device").contains("patient"))
        #expect(!PatchDocumentCheck.protectedElements(of: "Observation").contains("status"))
    }

    @Test func pointerEscapesAreDecodedBeforeMatching() {
        #expect(check(#"[{"op":"remove","path":"/subj~0ect"}]"#) == nil)
        #expect(check(#"[{"op":"remove","path":"/subject~1x"}]"#) == nil)
        #expect(check(#"[{"op":"copy","from":"/subject","path":"/focus/0"}]"#) == nil)
        #expect(check(#"[{"op":"copy","from":"/focus/0","path":"/subject"}]"#) == "patch_changes_compartment_reference")
        #expect(check(#"[{"op":"move","path":"/note"}]"#) == "patch_operation_shape")
        #expect(check(#"[{"path":"/note"}]"#) == "patch_operation_shape")
        #expect(check(#"{"op":"add"}"#) == "patch_not_json_patch")
    }
}

/// What the guard reads of each type, for `_elements`.
@Suite struct CheckedElementsTests {
    @Test func theElementsTheGuardReadsAreAdded() throws {
        let patient = ResponseCheck(patient: "a")
        #expect(Set(patient.elementsRead(on: "Observation")) == ["subject", "performer"])
        #expect(Set(patient.elementsRead(on: "Device")) == ["patient"])
        #expect(patient.elementsRead(on: "Patient").isEmpty) // its id, always returned
        #expect(patient.elementsValue("code,subject", type: "Observation") == "code,subject,performer")
        #expect(patient.elementsValue("subject, performer", type: "Observation") == "subject, performer")
        let lab = try #require(SMARTScope.parse("patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"))
        var granular = ResponseCheck(patient: nil, granular: ["Observation": [lab]])
        #expect(granular.elementsRead(on: "Observation") == ["category"])
        granular.deniedSecurityLabels = ["http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R"]
        #expect(granular.elementsRead(on: "Observation") == ["category", "meta"])
        var linked = ResponseCheck(patient: "a")
        linked.followPatientLinks = true
        #expect(linked.elementsRead(on: "Patient") == ["link"])
    }
}
