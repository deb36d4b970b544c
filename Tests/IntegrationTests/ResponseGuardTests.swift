import Foundation
import Testing

extension IntegrationSuite {
/// What comes back is checked: two patients whose data reference each other, paging
/// links bound to the token holder, no existence oracle.
@Suite(.serialized) struct ResponseGuardIntegrationTests {
    func entryIDs(_ r: TestClient.Response) -> [String] {
        (r.json["entry"] as? [[String: Any]] ?? []).compactMap { ($0["resource"] as? [String: Any])?["id"] as? String }
    }

    func link(_ r: TestClient.Response, _ relation: String) -> String? {
        (r.json["link"] as? [[String: Any]] ?? []).first { $0["relation"] as? String == relation }?["url"] as? String
    }

    @Test func patientTokenNeverSeesAnotherPatientsData() async throws {
        try await GatewayFixture.with { f in
            let a = try f.token("patient/*.rs", patient: "pat-a")
            // By id: B's resources look exactly like missing ones.
            let bObs = try await f.client.send(.GET, "\(f.base)/Observation/obs-vital-pat-b", token: a)
            let missing = try await f.client.send(.GET, "\(f.base)/Observation/no-such-id", token: a)
            #expect(bObs.status == 404 && missing.status == 404)
            #expect(bObs.body == missing.body)
            #expect(try await f.client.send(.GET, "\(f.base)/Encounter/enc-pat-b", token: a).status == 404)
            // A conditional read is answered by the gateway after the check: 304 for A's
            // current copy, the 404 of a missing resource for B's (the upstream says 304).
            let bETag = try #require(try await f.client.send(.GET, "http://127.0.0.1:\(f.upstreamPort)/fhir/Observation/obs-vital-pat-b").headers.first(name: "ETag"))
            #expect(try await f.client.send(.GET, "http://127.0.0.1:\(f.upstreamPort)/fhir/Observation/obs-vital-pat-b",
                                            headers: [("If-None-Match", bETag)]).status == 304)
            let bConditional = try await f.client.send(.GET, "\(f.base)/Observation/obs-vital-pat-b", token: a, headers: [("If-None-Match", bETag)])
            #expect(bConditional.status == 404 && bConditional.body == missing.body)
            let aFull = try await f.client.send(.GET, "\(f.base)/Observation/obs-vital-pat-a", token: a)
            let aETag = try #require(aFull.headers.first(name: "ETag"))
            let aConditional = try await f.client.send(.GET, "\(f.base)/Observation/obs-vital-pat-a", token: a, headers: [("If-None-Match", "W/\"0\", " + aETag)])
            #expect(aConditional.status == 304 && aConditional.body.isEmpty && aConditional.headers.first(name: "ETag") == aETag)
            let aRange = try await f.client.send(.GET, "\(f.base)/Observation/obs-vital-pat-a", token: a, headers: [("Range", "bytes=0-9")])
            #expect(aRange.status == 200 && aRange.body == aFull.body)
            // HEAD answers as GET would, headers only: no existence oracle, no metadata.
            let bHead = try await f.client.send(.HEAD, "\(f.base)/Observation/obs-vital-pat-b", token: a)
            #expect(bHead.status == 404 && bHead.headers.first(name: "ETag") == nil && bHead.body.isEmpty)
            let aHead = try await f.client.send(.HEAD, "\(f.base)/Observation/obs-vital-pat-a", token: a)
            let aGet = try await f.client.send(.GET, "\(f.base)/Observation/obs-vital-pat-a", token: a)
            #expect(aHead.status == 200 && aHead.body.isEmpty)
            #expect(aHead.headers.first(name: "Content-Length") == String(aGet.body.count))
            #expect(try await f.client.send(.GET, "\(f.base)/Observation/obs-vital-pat-b/_history/1", token: a).status == 404)
            #expect(try await f.client.send(.GET, "\(f.base)/Observation/obs-b-focus-a", token: a).status == 404)
            // Instance history of B's resource: the same 404 as a resource that never existed.
            let bHistory = try await f.client.send(.GET, "\(f.base)/Observation/obs-vital-pat-b/_history", token: a)
            let noHistory = try await f.client.send(.GET, "\(f.base)/Observation/no-such-id/_history", token: a)
            #expect(bHistory.status == 404 && noHistory.status == 404 && bHistory.body == noHistory.body)
            let aHistory = try await f.client.send(.GET, "\(f.base)/Observation/obs-vital-pat-a/_history", token: a)
            #expect(aHistory.status == 200 && entryIDs(aHistory) == ["obs-vital-pat-a"])
            // A type's history takes no search parameters, so the upstream ignores the
            // narrowing and answers for everyone: the gateway keeps A's entries only.
            let typeHistory = try await f.client.send(.GET, "\(f.base)/Observation/_history", token: a)
            let aObservations = try await f.client.send(.GET, "\(f.base)/Observation", token: a)
            #expect(typeHistory.status == 200 && !entryIDs(typeHistory).isEmpty)
            #expect(Set(entryIDs(aObservations)).isSubset(of: Set(entryIDs(typeHistory))))
            #expect(!entryIDs(typeHistory).contains("obs-vital-pat-b") && !entryIDs(typeHistory).contains("obs-b-focus-a"))
            // Another Patient, even one linking to A, is refused unless a policy follows links.
            #expect(try await f.client.send(.GET, "\(f.base)/Patient/pat-a-old", token: a).status == 403)
            // A's own data, and B's Observation that A performed (R4: performer is a compartment link).
            #expect(try await f.client.send(.GET, "\(f.base)/Observation/obs-vital-pat-a", token: a).status == 200)
            #expect(try await f.client.send(.GET, "\(f.base)/Observation/obs-b-performed-by-a", token: a).status == 200)
            // Searches are narrowed; _revinclude=Provenance:target keeps A's provenance only
            // (B's Provenance that also targets A's Condition names B's Encounter too).
            let conditions = try await f.client.send(.GET, "\(f.base)/Condition?_revinclude=Provenance:target", token: a)
            #expect(Set(entryIDs(conditions)) == ["cond-pat-a", "prov-pat-a"])
            // Nothing in any answer points at the upstream.
            #expect(!conditions.text.contains("127.0.0.1:\(f.upstreamPort)"))
            #expect(conditions.text.contains(f.base + "/Condition/cond-pat-a"))
        }
    }

    /// A checked answer must be JSON the guard can read: any other format is refused with
    /// 406 before anything is sent upstream; JSON in any of its spellings passes.
    @Test func checkedAnswersAreJSONOrRefusedWith406() async throws {
        try await GatewayFixture.with { f in
            let a = try f.token("patient/Observation.rs", patient: "pat-a")
            let url = "\(f.base)/Observation/obs-vital-pat-a"
            for (query, accept) in [("", "application/fhir+xml"), ("?_format=xml", nil), ("?_format=html", nil), ("?_format=ttl", nil),
                                    ("?_format=application/fhir%2Bxml", nil)] as [(String, String?)] {
                let r = try await f.client.send(.GET, url + query, token: a, headers: accept.map { [("Accept", $0)] } ?? [])
                #expect(r.status == 406 && r.json["resourceType"] as? String == "OperationOutcome", "\(query) \(accept ?? "")")
            }
            for query in ["?_format=json", "?_format=application/fhir%2Bjson", "?_format=application/fhir+json", "?_format=application/json;fhirVersion=4.0"] {
                #expect(try await f.client.send(.GET, url + query, token: a).status == 200, "\(query)")
            }
            // In a `_search` form body too.
            let form = try await f.client.send(.POST, "\(f.base)/Observation/_search", token: a,
                                               headers: [("Content-Type", "application/x-www-form-urlencoded")], body: Array("_format=xml".utf8))
            #expect(form.status == 406)
            #expect(!f.upstream.requestLog.contains { $0.contains("_format=xml") || $0.contains("_format=html") || $0.contains("_format=ttl") })
        }
    }

    /// A batch answer keeps one entry per request entry, in order: another patient's
    /// resource is the same not-found entry a missing one is, never a shifted list.
    @Test func batchAnswersKeepTheirShapeAndHideLikeMissing() async throws {
        try await GatewayFixture.with { f in
            let a = try f.token("patient/Observation.rs", patient: "pat-a")
            let urls = ["Observation/obs-vital-pat-a", "Observation/obs-vital-pat-b", "Observation/no-such-id", "Observation/obs-lab-0-pat-a"]
            let batch: [String: Any] = ["resourceType": "Bundle", "type": "batch",
                                        "entry": urls.map { ["request": ["method": "GET", "url": $0]] }]
            let r = try await f.client.send(.POST, f.base, token: a, headers: [("Content-Type", "application/fhir+json")],
                                            body: Array(try JSONSerialization.data(withJSONObject: batch)))
            #expect(r.status == 200, "\(r.text)")
            let entries = r.json["entry"] as? [[String: Any]] ?? []
            #expect(entries.count == 4)
            let ids = entries.map { ($0["resource"] as? [String: Any])?["id"] as? String }
            #expect(ids == ["obs-vital-pat-a", nil, nil, "obs-lab-0-pat-a"])
            let statuses = entries.map { ($0["response"] as? [String: Any])?["status"] as? String }
            #expect(statuses == ["200 OK", "404 Not Found", "404 Not Found", "200 OK"])
            let hidden = try JSONSerialization.data(withJSONObject: entries[1], options: .sortedKeys)
            let missing = try JSONSerialization.data(withJSONObject: entries[2], options: .sortedKeys)
            #expect(hidden == missing)
            #expect(!r.text.contains("pat-b"))
        }
    }

    @Test func pagingLinksAreRewrittenAndBoundToTheTokenHolder() async throws {
        try await GatewayFixture.with { f in
            let a = try f.token("patient/Observation.rs", patient: "pat-a")
            let b = try f.token("patient/Observation.rs", patient: "pat-b")
            let first = try await f.client.send(.GET, "\(f.base)/Observation?_count=1", token: a)
            #expect(first.status == 200)
            #expect(entryIDs(first).count == 1)
            let next = try #require(link(first, "next"))
            #expect(next.hasPrefix(f.base + "?_getpages="))
            #expect(next.contains("_fhirgate_page="))
            #expect(!first.text.contains("127.0.0.1:\(f.upstreamPort)"))
            // A follows its own links through every page: all of A's Observations, nothing else.
            var seen = entryIDs(first)
            var url: String? = next
            while let u = url {
                let page = try await f.client.send(.GET, u, token: a)
                #expect(page.status == 200)
                seen += entryIDs(page)
                url = link(page, "next")
            }
            #expect(Set(seen) == ["obs-lab-0-pat-a", "obs-lab-1-pat-a", "obs-vital-pat-a"])
            // With _revinclude=Provenance:target, A's provenance comes with each page, none of B's.
            var withProvenance: [String] = []
            url = "\(f.base)/Observation?_revinclude=Provenance:target&_count=1"
            while let u = url {
                let page = try await f.client.send(.GET, u, token: try f.token("patient/Observation.rs patient/Provenance.rs", patient: "pat-a"))
                #expect(page.status == 200)
                withProvenance += entryIDs(page)
                url = link(page, "next")
            }
            #expect(Set(withProvenance) == ["obs-lab-0-pat-a", "obs-lab-1-pat-a", "obs-vital-pat-a", "prov-lab-0-pat-a", "prov-lab-1-pat-a"])
            // B presenting A's page link gets what a link that never existed gets.
            let stolen = try await f.client.send(.GET, next, token: b)
            #expect(stolen.status == 404)
            // A tampered link (another offset) is refused too; an unsigned one as well.
            let tampered = next.replacingOccurrences(of: "_getpagesoffset=1", with: "_getpagesoffset=0")
            #expect(try await f.client.send(.GET, tampered, token: a).status == 404)
            let unsigned = String(next[..<next.range(of: "&_fhirgate_page=")!.lowerBound])
            #expect(try await f.client.send(.GET, unsigned, token: a).status == 403)
        }
    }

    @Test func granularScopeFiltersReadsSearchesAndPages() async throws {
        try await GatewayFixture.with { f in
            let labs = try f.token("patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory", patient: "pat-a")
            let both = try f.token("patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory patient/Observation.rs",
                                   patient: "pat-a")
            #expect(try await f.client.send(.GET, "\(f.base)/Observation/obs-vital-pat-a", token: labs).status == 404)
            #expect(try await f.client.send(.GET, "\(f.base)/Observation/obs-lab-0-pat-a", token: labs).status == 200)
            var seen: [String] = []
            var url: String? = "\(f.base)/Observation?_count=1"
            while let u = url {
                let page = try await f.client.send(.GET, u, token: labs)
                seen += entryIDs(page)
                url = link(page, "next")
            }
            #expect(Set(seen) == ["obs-lab-0-pat-a", "obs-lab-1-pat-a"])
            // `_elements` keeps what the guard reads (subject, category): the subset is
            // shown, not withheld for want of them; another patient's still is.
            let subset = try await f.client.send(.GET, "\(f.base)/Observation/obs-lab-0-pat-a?_elements=code", token: labs)
            #expect(subset.status == 200 && subset.json["code"] != nil && subset.json["valueQuantity"] == nil, "\(subset.text)")
            #expect(f.upstream.requestLog.contains { $0.contains("_elements=code%2Csubject%2Cperformer%2Ccategory") || $0.contains("_elements=code,subject,performer,category") })
            #expect(try await f.client.send(.GET, "\(f.base)/Observation/obs-vital-pat-a?_elements=code", token: labs).status == 404)
            // `_summary=text` would leave out subject and category: the resource comes whole.
            let summary = try await f.client.send(.GET, "\(f.base)/Observation/obs-lab-0-pat-a?_summary=text", token: labs)
            #expect(summary.status == 200 && summary.json["subject"] != nil, "\(summary.text)")
            #expect(!f.upstream.requestLog.contains { $0.contains("_summary=text") })
            let subsetPage = try await f.client.send(.GET, "\(f.base)/Observation?_elements=code", token: labs)
            #expect(Set(entryIDs(subsetPage)) == ["obs-lab-0-pat-a", "obs-lab-1-pat-a"])
            let all = try await f.client.send(.GET, "\(f.base)/Observation", token: both)
            #expect(Set(entryIDs(all)) == ["obs-lab-0-pat-a", "obs-lab-1-pat-a", "obs-vital-pat-a"])
        }
    }

    @Test func everythingReturnsOnlyThePatientsCompartment() async throws {
        try await GatewayFixture.with { f in
            let a = try f.token("patient/*.rs", patient: "pat-a")
            let everything = try await f.client.send(.GET, "\(f.base)/Patient/pat-a/$everything", token: a)
            #expect(everything.status == 200)
            let ids = Set(entryIDs(everything))
            // The upstream returned B's resources that merely mention A; none survive.
            #expect(f.upstream.requestLog.contains { $0.hasPrefix("GET /fhir/Patient/pat-a/$everything") })
            #expect(ids.isSuperset(of: ["pat-a", "enc-pat-a", "cond-pat-a", "obs-vital-pat-a", "prov-pat-a", "dev-a", "obs-b-performed-by-a", "prac-1"]))
            #expect(ids.isDisjoint(with: ["obs-b-focus-a", "prov-b-about-a", "pat-a-old", "pat-b", "enc-pat-b", "obs-vital-pat-b"]))
            #expect(everything.json["total"] == nil)
            #expect(!everything.text.contains("127.0.0.1:\(f.upstreamPort)"))
            // B's $everything with A's token: refused from the request.
            #expect(try await f.client.send(.GET, "\(f.base)/Patient/pat-b/$everything", token: a).status == 403)
            // A granular token cannot ask for everything.
            let labs = try f.token("patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory", patient: "pat-a")
            #expect(try await f.client.send(.GET, "\(f.base)/Patient/pat-a/$everything", token: labs).status == 403)
        }
    }

    @Test func followingPatientLinksIsAPolicyChoice() async throws {
        var options = TestEnvironment.Options()
        options.policy = "name: linked\npatient_scopes:\n  follow_patient_links: true\n"
        try await GatewayFixture.with(options) { f in
            let a = try f.token("patient/*.rs", patient: "pat-a")
            #expect(try await f.client.send(.GET, "\(f.base)/Patient/pat-a-old", token: a).status == 200)
            let b = try await f.client.send(.GET, "\(f.base)/Patient/pat-b", token: a)
            let missing = try await f.client.send(.GET, "\(f.base)/Patient/nobody", token: a)
            #expect(b.status == 404 && missing.status == 404 && b.body == missing.body)
            let everything = try await f.client.send(.GET, "\(f.base)/Patient/pat-a/$everything", token: a)
            #expect(entryIDs(everything).contains("pat-a-old"))
        }
    }

    @Test func patientScopeWritesStayInTheCompartment() async throws {
        try await GatewayFixture.with { f in
            let a = try f.token("patient/Observation.rus patient/Condition.rud", patient: "pat-a")
            func json(_ o: Any) -> [UInt8] { Array(try! JSONSerialization.data(withJSONObject: o)) }
            let mine: [String: Any] = ["resourceType": "Observation", "id": "obs-vital-pat-a", "status": "amended",
                                       "code": ["text": "Heart rate"], "subject": ["reference": "Patient/pat-a"]]
            // Validating a stored resource: B's is the 404 of a missing one and never reaches
            // the upstream; A's is checked first and then sent on (without a version pin).
            let bValidate = try await f.client.send(.POST, "\(f.base)/Observation/obs-vital-pat-b/$validate", token: a,
                                                    headers: [("Content-Type", "application/fhir+json")], body: json(["resourceType": "Parameters"]))
            #expect(bValidate.status == 404)
            #expect(!f.upstream.requestLog.contains { $0.contains("obs-vital-pat-b/$validate") })
            _ = try await f.client.send(.POST, "\(f.base)/Observation/obs-vital-pat-a/$validate", token: a,
                                        headers: [("Content-Type", "application/fhir+json")], body: json(["resourceType": "Parameters"]))
            #expect(f.upstream.requestLog.contains { $0.contains("POST /fhir/Observation/obs-vital-pat-a/$validate") })
            // Update of A's own resource: pre-checked, pinned to the version seen, applied.
            let updated = try await f.client.send(.PUT, "\(f.base)/Observation/obs-vital-pat-a", token: a,
                                                  headers: [("Content-Type", "application/fhir+json")], body: json(mine))
            #expect(updated.status == 200)
            #expect(updated.json["status"] as? String == "amended")
            #expect(f.upstream.requestLog.contains("GET /fhir/Observation/obs-vital-pat-a"))
            let forwarded = try #require(f.upstream.requestLog.lastIndex(of: "PUT /fhir/Observation/obs-vital-pat-a"))
            #expect(forwarded > 0)

            // Taking over B's Observation with a body that names A: looks like a missing id, and
            // nothing is written upstream.
            let before = f.upstream.requestLog.filter { $0.hasPrefix("PUT") || $0.hasPrefix("PATCH") || $0.hasPrefix("DELETE") }.count
            var takeover = mine
            takeover["id"] = "obs-vital-pat-b"
            let stolen = try await f.client.send(.PUT, "\(f.base)/Observation/obs-vital-pat-b", token: a,
                                                 headers: [("Content-Type", "application/fhir+json")], body: json(takeover))
            let missing = try await f.client.send(.GET, "\(f.base)/Observation/no-such-id", token: a)
            #expect(stolen.status == 404 && stolen.body == missing.body)
            let patchB = try await f.client.send(.PATCH, "\(f.base)/Observation/obs-vital-pat-b", token: a,
                                                 headers: [("Content-Type", "application/json-patch+json")],
                                                 body: Array(#"[{"op":"replace","path":"/status","value":"entered-in-error"}]"#.utf8))
            #expect(patchB.status == 404)
            #expect(try await f.client.send(.DELETE, "\(f.base)/Condition/cond-pat-b", token: a).status == 404)
            // Repointing A's own resource at B: refused before anything is fetched.
            let repoint = try await f.client.send(.PATCH, "\(f.base)/Observation/obs-lab-0-pat-a", token: a,
                                                  headers: [("Content-Type", "application/json-patch+json")],
                                                  body: Array(#"[{"op":"replace","path":"/subject/reference","value":"Patient/pat-b"}]"#.utf8))
            #expect(repoint.status == 403)
            let after = f.upstream.requestLog.filter { $0.hasPrefix("PUT") || $0.hasPrefix("PATCH") || $0.hasPrefix("DELETE") }.count
            #expect(after == before)
            // B's resources are unchanged.
            let bToken = try f.token("patient/*.rs", patient: "pat-b")
            let bObs = try await f.client.send(.GET, "\(f.base)/Observation/obs-vital-pat-b", token: bToken)
            #expect(bObs.json["status"] as? String == "final")
            #expect(try await f.client.send(.GET, "\(f.base)/Condition/cond-pat-b", token: bToken).status == 200)

            // A harmless patch and a delete of A's own data go through.
            let patched = try await f.client.send(.PATCH, "\(f.base)/Observation/obs-lab-0-pat-a", token: a,
                                                  headers: [("Content-Type", "application/json-patch+json")],
                                                  body: Array(#"[{"op":"replace","path":"/status","value":"corrected"}]"#.utf8))
            #expect(patched.status == 200 && patched.json["status"] as? String == "corrected")
            let deleted = try await f.client.send(.DELETE, "\(f.base)/Condition/cond-pat-a", token: a)
            #expect(deleted.status == 200)
            #expect(try await f.client.send(.GET, "\(f.base)/Condition/cond-pat-a", token: a).status == 404)
            // Return=minimal answers pass without a body to check.
            var again = mine
            again["status"] = "final"
            let minimal = try await f.client.send(.PUT, "\(f.base)/Observation/obs-vital-pat-a", token: a,
                                                  headers: [("Content-Type", "application/fhir+json"), ("Prefer", "return=minimal")], body: json(again))
            #expect(minimal.status == 200 && minimal.body.isEmpty)
        }
    }
}
}
