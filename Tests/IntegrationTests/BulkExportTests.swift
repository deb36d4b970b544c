import AsyncHTTPClient
import FHIRGateTestSupport
import Foundation
import NIOHTTP1
import Testing

extension IntegrationSuite {
/// Bulk Data through the gateway: kick-off checks, jobs owned by the client that started
/// them, gateway URLs only, streaming downloads.
@Suite(.serialized) struct BulkExportIntegrationTests {
    static let asyncHeaders = [("Prefer", "respond-async"), ("Accept", "application/fhir+json")]

    /// Polls until the manifest is ready; returns every status answer seen.
    func poll(_ f: GatewayFixture, _ url: String, token: String) async throws -> [TestClient.Response] {
        var seen: [TestClient.Response] = []
        for _ in 0..<10 {
            let r = try await f.client.send(.GET, url, token: token, headers: [("Accept", "application/json")])
            seen.append(r)
            if r.status != 202 { break }
        }
        return seen
    }

    func lines(_ r: TestClient.Response) -> [String] {
        r.text.split(separator: "\n").map(String.init)
    }

    @Test func exportEndToEnd() async throws {
        try await GatewayFixture.with { f in
            let scopes = "system/Patient.read system/Observation.read system/Condition.read"
            let owner = try f.token(scopes, client: "registry")
            // Kick-off with the short alias HAPI-style upstreams refuse: normalised on the way.
            let kickoff = try await f.client.send(.GET, "\(f.base)/Group/grp-1/$export?_type=Patient,Observation,Condition&_outputFormat=ndjson",
                                                  token: owner, headers: Self.asyncHeaders)
            #expect(kickoff.status == 202)
            let status = try #require(kickoff.headers.first(name: "content-location"))
            #expect(status.hasPrefix(f.base + "/$export-status/"))
            #expect(f.upstream.requestLog.contains { $0.contains("$export?") && $0.contains("_outputFormat=application/fhir%2Bndjson") }, "\(f.upstream.requestLog)")

            let answers = try await poll(f, status, token: owner)
            #expect(answers.first?.status == 202 && answers.first?.headers.first(name: "x-progress") != nil)
            let done = try #require(answers.last)
            #expect(done.status == 200)
            #expect(done.headers.first(name: "content-type") == "application/json")
            let manifest = done.json
            #expect(manifest["requiresAccessToken"] as? Bool == true)
            #expect((manifest["request"] as? String)?.hasPrefix(f.base + "/Group/grp-1/$export?") == true)
            let output = try #require(manifest["output"] as? [[String: Any]])
            #expect(Set(output.compactMap { $0["type"] as? String }) == ["Patient", "Observation", "Condition"])
            // The upstream added Provenance, which the token does not cover: withheld, and said so.
            let errors = try #require(manifest["error"] as? [[String: Any]])
            let note = try #require(errors.first { ($0["url"] as? String)?.hasSuffix("/withheld") == true }?["url"] as? String)
            let noteFile = try await f.client.send(.GET, note, token: owner)
            #expect(noteFile.status == 200 && noteFile.text.contains("Provenance") && noteFile.text.contains("OperationOutcome"))

            // Every file downloads through the gateway with the upstream's line count.
            for item in output {
                let url = try #require(item["url"] as? String)
                #expect(url.hasPrefix(f.base + "/$export-file/"))
                let file = try await f.client.send(.GET, url, token: owner)
                #expect(file.status == 200)
                #expect(file.headers.first(name: "content-type") == "application/fhir+ndjson")
                #expect(lines(file).count == item["count"] as? Int, "\(item)")
                #expect(lines(file).allSatisfy { $0.contains("\"resourceType\":\"\(item["type"] as? String ?? "")\"") })
            }
            // Nothing the client saw names the upstream.
            let upstream = "127.0.0.1:\(f.upstreamPort)"
            for r in [kickoff] + answers { #expect(!r.text.contains(upstream) && !(r.headers.first(name: "content-location") ?? "").contains(upstream)) }

            // Another client with the same scopes: the job does not exist for it.
            let other = try f.token(scopes, client: "other-app")
            let firstFile = try #require(output.first?["url"] as? String)
            let notMine = try await f.client.send(.GET, status, token: other)
            let never = try await f.client.send(.GET, "\(f.base)/$export-status/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", token: other)
            #expect(notMine.status == 404 && never.status == 404 && notMine.body == never.body)
            #expect(try await f.client.send(.GET, firstFile, token: other).status == 404)
            #expect(try await f.client.send(.DELETE, status, token: other).status == 404)
            // No token at all.
            let anonymous = try await f.client.send(.GET, status)
            #expect(anonymous.status == 401 && anonymous.headers.first(name: "www-authenticate") != nil)
            #expect(try await f.client.send(.GET, firstFile).status == 401)
            // The owner whose token no longer covers the job's types is refused.
            let narrower = try f.token("system/Patient.read", client: "registry")
            #expect(try await f.client.send(.GET, firstFile, token: narrower).status == 403)

            // Cancel, then every poll is a 404 with an OperationOutcome.
            let cancel = try await f.client.send(.DELETE, status, token: owner)
            #expect(cancel.status == 202)
            let after = try await f.client.send(.GET, status, token: owner)
            #expect(after.status == 404 && after.json["resourceType"] as? String == "OperationOutcome")
            #expect(try await f.client.send(.GET, firstFile, token: owner).status == 404)
        }
    }

    /// An upstream that writes its public name (`upstream_advertised_base`) in its
    /// answers: links, references, `Location` and Bulk URLs are all understood as its own,
    /// and the client sees the gateway's base only.
    @Test func anUpstreamWritingAnotherBaseIsUnderstood() async throws {
        var options = TestEnvironment.Options()
        options.advertisedBase = "https://ehr.example.org/fhir"
        try await GatewayFixture.with(options) { f in
            // A search: links rewritten and signed, fullUrls public.
            let a = try f.token("patient/Observation.rs patient/Patient.rs", patient: "pat-a")
            let page = try await f.client.send(.GET, "\(f.base)/Observation?_count=1&_include=Observation:subject:Patient", token: a)
            #expect(page.status == 200 && !page.text.contains("ehr.example.org"), "\(page.status) \(page.text.prefix(400))")
            let next = try #require((page.json["link"] as? [[String: Any]])?.first { $0["relation"] as? String == "next" }?["url"] as? String)
            #expect(next.hasPrefix(f.base + "?_getpages=") && next.contains("_fhirgate_page="))
            #expect(try await f.client.send(.GET, next, token: a).status == 200)
            // Bulk: the status URL and the files the upstream names under its public base are
            // polled and fetched on the configured upstream.
            let owner = try f.token("system/Patient.read system/Observation.read", client: "registry")
            let kickoff = try await f.client.send(.GET, "\(f.base)/$export?_type=Patient,Observation", token: owner, headers: Self.asyncHeaders)
            #expect(kickoff.status == 202)
            let status = try #require(kickoff.headers.first(name: "content-location"))
            let done = try #require(try await poll(f, status, token: owner).last)
            #expect(done.status == 200 && !done.text.contains("ehr.example.org"), "\(done.text.prefix(300))")
            let output = try #require(done.json["output"] as? [[String: Any]])
            let file = try await f.client.send(.GET, try #require(output.first?["url"] as? String), token: owner)
            #expect(file.status == 200 && !file.text.isEmpty)
        }
    }

    @Test func kickoffIsCheckedAgainstScopesAndPolicy() async throws {
        var options = TestEnvironment.Options()
        options.policy = """
        name: bulk
        bulk_export:
          contexts: [system]
          groups: [grp-1]
          max_concurrent_jobs_per_client: 1
        """
        try await GatewayFixture.with(options) { f in
            let system = try f.token("system/Patient.read system/Observation.read", client: "registry")
            func kick(_ query: String, _ token: String?) async throws -> TestClient.Response {
                try await f.client.send(.GET, "\(f.base)/Group/grp-1/$export\(query)", token: token, headers: Self.asyncHeaders)
            }
            #expect(try await kick("", nil).status == 401)
            #expect(try await kick("", try f.token("patient/*.read", patient: "pat-a")).status == 403)
            #expect(try await kick("", try f.token("user/*.read")).status == 403)
            #expect(try await kick("?_type=Condition", system).status == 403)
            #expect(try await kick("?_type=Observation&_typeFilter=Condition%3Fcategory%3Dx", system).status == 403)
            #expect(try await kick("?_type=NotAType", system).status == 400)
            #expect(try await kick("?_outputFormat=text/csv", system).status == 400)
            #expect(try await kick("?_frobnicate=1", system).status == 400)
            #expect(try await f.client.send(.GET, "\(f.base)/Group/grp-2/$export", token: system, headers: Self.asyncHeaders).status == 403)
            #expect(try await f.client.send(.GET, "\(f.base)/Observation/$export", token: system, headers: Self.asyncHeaders).status == 400)
            #expect(f.upstream.requestLog.filter { $0.contains("$export") }.isEmpty)

            // Without _type the gateway asks for exactly the granted types.
            let first = try await kick("", system)
            #expect(first.status == 202)
            #expect(f.upstream.requestLog.last { $0.contains("$export") }?.contains("_type=Observation%2CPatient") == true
                || f.upstream.requestLog.last { $0.contains("$export") }?.contains("_type=Observation,Patient") == true)
            // One job at a time for this client: the next kick-off waits.
            let second = try await kick("", system)
            #expect(second.status == 429)
            #expect(second.headers.first(name: "retry-after") != nil)
            // Cancelling frees the slot.
            let status = try #require(first.headers.first(name: "content-location"))
            #expect(try await f.client.send(.DELETE, status, token: system).status == 202)
            #expect(try await kick("", system).status == 202)
        }
    }

    @Test func largeFileStreamsWithFlatMemoryAndResumes() async throws {
        let size = Int(ProcessInfo.processInfo.environment["FHIRGATE_BULK_TEST_BYTES"] ?? "") ?? (256 << 20)
        try await GatewayFixture.with { f in
            f.upstream.bulkExtraBytes.store(size, ordering: .relaxed)
            let token = try f.token("system/*.read", client: "registry")
            let kickoff = try await f.client.send(.GET, "\(f.base)/$export?_type=Observation", token: token, headers: Self.asyncHeaders)
            let status = try #require(kickoff.headers.first(name: "content-location"))
            let manifest = try #require(try await poll(f, status, token: token).last).json
            let output = try #require(manifest["output"] as? [[String: Any]])
            let big = try #require(output.last?["url"] as? String)
            // Warm up, then measure the gateway's peak while the whole file streams.
            _ = try await f.client.send(.GET, try #require(output.first?["url"] as? String), token: token)
            let before = f.gateway.memory().peak
            var request = HTTPClientRequest(url: big)
            request.headers.add(name: "Authorization", value: "Bearer " + token)
            let started = ContinuousClock.now
            let response = try await f.client.client.execute(request, timeout: .seconds(600))
            #expect(response.status == .ok)
            #expect(response.headers.first(name: "content-length") == String(size))
            var received = 0
            for try await chunk in response.body { received += chunk.readableBytes }
            let elapsed = started.duration(to: .now)
            let growthMB = Double(f.gateway.memory().peak - before) / 1024
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            print("bulk download: \(received) bytes in \(String(format: "%.2f", seconds)) s (\(String(format: "%.0f", Double(received) / seconds / 1e6)) MB/s), gateway peak RSS growth \(String(format: "%.1f", growthMB)) MB")
            // The same number of bytes straight from the upstream (no TLS, no gateway), for comparison.
            var direct = HTTPClientRequest(url: "http://127.0.0.1:\(f.upstreamPort)/fhir/Binary/bytes-\(size)")
            direct.method = .GET
            let directStarted = ContinuousClock.now
            var directBytes = 0
            for try await chunk in try await f.client.client.execute(direct, timeout: .seconds(600)).body { directBytes += chunk.readableBytes }
            let directElapsed = directStarted.duration(to: .now)
            let directSeconds = Double(directElapsed.components.seconds) + Double(directElapsed.components.attoseconds) / 1e18
            print("direct from upstream: \(directBytes) bytes in \(String(format: "%.2f", directSeconds)) s (\(String(format: "%.0f", Double(directBytes) / directSeconds / 1e6)) MB/s)")
            #expect(received == size)
            #expect(growthMB < 64, "peak RSS grew by \(growthMB) MB while streaming \(size >> 20) MB")
            // Resuming with Range gets exactly the rest.
            let resumed = try await f.client.send(.GET, big, token: token, headers: [("Range", "bytes=\(size - 100)-")])
            #expect(resumed.status == 206 && resumed.body.count == 100)
            #expect(resumed.headers.first(name: "content-range") == "bytes \(size - 100)-\(size - 1)/\(size)")
        }
    }

    @Test func jobsLiveInRedisWhenConfigured() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.kill() }
        var options = TestEnvironment.Options()
        options.redis = redis.url
        try await GatewayFixture.with(options) { f in
            let token = try f.token("system/Patient.read", client: "registry")
            let kickoff = try await f.client.send(.GET, "\(f.base)/$export", token: token, headers: Self.asyncHeaders)
            let status = try #require(kickoff.headers.first(name: "content-location"))
            let id = String(status.split(separator: "/").last ?? "")
            let stored = try await redisCLI(redis.port, "GET", "fhirgate:bulk:job:" + id)
            #expect(stored.contains("\"clientID\":\"registry\""))
            let manifest = try #require(try await poll(f, status, token: token).last)
            #expect(manifest.status == 200)
            let url = try #require((manifest.json["output"] as? [[String: Any]])?.first?["url"] as? String)
            #expect(try await f.client.send(.GET, url, token: token).status == 200)
        }
    }

    /// `redis-cli` output for one command.
    func redisCLI(_ port: Int, _ args: String...) async throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-cli")
        process.arguments = ["-p", String(port)] + args
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        while process.isRunning { try await Task.sleep(for: .milliseconds(10)) }
        return String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }
}
}
