import Foundation
import Testing
@testable import FHIRGateCore

@Suite struct BulkExportJobTests {
    func job(types: [String]?) -> BulkExportJob {
        BulkExportJob(id: BulkExportJob.newID(), issuer: "https://as", clientID: "registry", subject: "svc", types: types,
                      kickoffURL: "https://gw/r4/$export", upstreamStatusURL: "http://up:8080/fhir/$export-poll-status?_jobId=1",
                      created: 0, expires: 1e12)
    }

    func token(_ scope: String, client: String = "registry", subject: String = "svc", issuer: String = "https://as") -> AccessToken {
        AccessToken(issuer: issuer, subject: subject, clientID: client, scopes: GrantedScopes(scope), patient: nil, expiresAt: 1e12, tokenHash: "0")
    }

    @Test func idsAreUnguessableAndWellFormed() {
        let ids = Set((0..<1000).map { _ in BulkExportJob.newID() })
        #expect(ids.count == 1000)
        #expect(ids.allSatisfy(BulkExportJob.isValidID))
        #expect(!BulkExportJob.isValidID("AAAA"))
        #expect(!BulkExportJob.isValidID(String(repeating: "A", count: 31) + "/"))
        #expect(Base64URL.encode(Array("any carnal pleas".utf8)) == "YW55IGNhcm5hbCBwbGVhcw")
    }

    @Test func onlyTheOwnerWithCoveringScopesGetsIn() {
        let j = job(types: ["Patient", "Observation"])
        let system: Set<SMARTScope.Context> = [.system]
        #expect(j.access(by: token("system/Patient.read system/Observation.read"), contexts: system) == nil)
        #expect(j.access(by: token("system/*.read"), contexts: system) == nil)
        #expect(j.access(by: token("system/*.read", client: "other"), contexts: system)?.status == 404)
        #expect(j.access(by: token("system/*.read", subject: "someone"), contexts: system)?.status == 404)
        #expect(j.access(by: token("system/*.read", issuer: "https://evil"), contexts: system)?.status == 404)
        #expect(j.access(by: token("system/Patient.read"), contexts: system)?.status == 403)
        #expect(j.access(by: token("user/*.read"), contexts: system)?.status == 403)
        // A job started under a wildcard needs a wildcard to be read.
        #expect(job(types: nil).access(by: token("system/Patient.read"), contexts: system)?.status == 403)
    }
}

@Suite struct BulkManifestTests {
    let upstream = "http://up:8080"

    func rewrite(_ manifest: String, types: [String]?) -> (json: [String: Any]?, job: BulkExportJob) {
        var job = BulkExportJob(id: "J" + String(repeating: "a", count: 31), issuer: "i", clientID: "c", subject: "s", types: types,
                                kickoffURL: "https://gw/r4/$export?_type=Patient", upstreamStatusURL: "x", created: 0, expires: 1)
        let out = BulkManifest.rewrite(Array(manifest.utf8), job: &job, publicBase: "https://gw/r4", upstreamBase: upstream)
        return (out.flatMap { try? JSONSerialization.jsonObject(with: Data($0)) as? [String: Any] }, job)
    }

    @Test func urlsBecomeGatewayFileURLsAndUnlistedTypesAreWithheld() throws {
        let (json, job) = rewrite("""
        {"transactionTime":"2026-01-01T00:00:00Z","request":"http://up:8080/fhir/$export","requiresAccessToken":false,
         "output":[{"type":"Patient","url":"http://up:8080/fhir/files/1.ndjson","count":3},
                   {"type":"Provenance","url":"http://up:8080/fhir/files/2.ndjson"}],
         "error":[{"type":"OperationOutcome","url":"http://up:8080/fhir/files/err.ndjson"}]}
        """, types: ["Patient"])
        let m = try #require(json)
        #expect(m["request"] as? String == "https://gw/r4/$export?_type=Patient")
        #expect(m["requiresAccessToken"] as? Bool == true)
        #expect(m["transactionTime"] as? String == "2026-01-01T00:00:00Z")
        let output = try #require(m["output"] as? [[String: Any]])
        #expect(output.count == 1 && output[0]["url"] as? String == "https://gw/r4/$export-file/\(job.id)/0" && output[0]["count"] as? Int == 3)
        let errors = try #require(m["error"] as? [[String: Any]])
        #expect(errors.map { $0["url"] as? String } == ["https://gw/r4/$export-file/\(job.id)/1", "https://gw/r4/$export-file/\(job.id)/withheld"])
        #expect(job.files == ["http://up:8080/fhir/files/1.ndjson", "http://up:8080/fhir/files/err.ndjson"])
        #expect(job.withheld == ["Provenance"])
        #expect(String(decoding: BulkManifest.withheldNote(job.withheld), as: UTF8.self).contains("Provenance"))
    }

    @Test func missingRequiredMembersAreAdded() throws {
        let (json, _) = rewrite(#"{"transactionTime":"t","output":[]}"#, types: nil)
        let m = try #require(json)
        #expect(m["error"] as? [Any] != nil && m["requiresAccessToken"] as? Bool == true && m["request"] != nil)
    }

    @Test(arguments: [
        #"{"output":[{"type":"Patient","url":"https://elsewhere.example/file"}]}"#, // a file outside the upstream
        #"{"output":[{"type":"Patient","url":"http://up:8080.evil/file"}]}"#,
        #"{"output":[{"type":"Patient"}]}"#,
        #"{"output":{}}"#,
        #"{"error":[]}"#,
        "not json",
    ])
    func unreadableManifestsAreRefused(_ manifest: String) {
        #expect(rewrite(manifest, types: nil).json == nil)
    }
}
