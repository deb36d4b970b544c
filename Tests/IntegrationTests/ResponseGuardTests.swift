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
            #expect(try await f.client.send(.GET, "\(f.base)/Observation/obs-vital-pat-b/_history/1", token: a).status == 404)
            // A's own data, and B's Observation that A performed (R4: performer is a compartment link).
            #expect(try await f.client.send(.GET, "\(f.base)/Observation/obs-vital-pat-a", token: a).status == 200)
            #expect(try await f.client.send(.GET, "\(f.base)/Observation/obs-b-performed-by-a", token: a).status == 200)
            // Searches are narrowed; _revinclude=Provenance:target keeps A's provenance only.
            let conditions = try await f.client.send(.GET, "\(f.base)/Condition?_revinclude=Provenance:target", token: a)
            #expect(Set(entryIDs(conditions)) == ["cond-pat-a", "prov-pat-a"])
            // Nothing in any answer points at the upstream.
            #expect(!conditions.text.contains("127.0.0.1:\(f.upstreamPort)"))
            #expect(conditions.text.contains(f.base + "/Condition/cond-pat-a"))
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
            let all = try await f.client.send(.GET, "\(f.base)/Observation", token: both)
            #expect(Set(entryIDs(all)) == ["obs-lab-0-pat-a", "obs-lab-1-pat-a", "obs-vital-pat-a"])
        }
    }
}
}
