import Foundation
import NIOCore
import Testing

extension IntegrationSuite {
/// Bundles that need no check (a `user/` scope) are passed unread when their text cannot
/// name the upstream: the links that do name it, however they are spelled, are still
/// rewritten. The sample upstream escapes every slash (Foundation does), so these use an
/// upstream that writes Bundles the way most servers do.
@Suite(.serialized) struct BundleLinkRewriteTests {
    final class Port: @unchecked Sendable { var value = 0 }

    /// An upstream answering every request with `body(port)` as a FHIR JSON 200.
    func upstream(_ body: @escaping @Sendable (Int) -> String) async throws -> RawUpstream {
        let port = Port()
        let upstream = try await RawUpstream { writer, _ in
            let text = body(port.value)
            try await writer.write(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\n"
                                                 + "Content-Length: \(text.utf8.count)\r\nConnection: close\r\n\r\n" + text))
        }
        port.value = upstream.port
        return upstream
    }

    func searchset(next: String, fullUrl: String) -> String {
        #"{"resourceType":"Bundle","type":"searchset","link":[{"relation":"next","url":"\#(next)"}],"#
            + #""entry":[{"fullUrl":"\#(fullUrl)","resource":{"resourceType":"Observation","id":"o1","status":"final"}}]}"#
    }

    @Test func linksNamingTheUpstreamAreRewrittenHoweverTheyAreSpelled() async throws {
        for spelling in ["http://127.0.0.1:PORT/fhir", #"http:\/\/127.0.0.1:PORT\/fhir"#, #"http:\u002F\u002F127.0.0.1:PORT/fhir"#] {
            let up = try await upstream { port in
                let base = spelling.replacingOccurrences(of: "PORT", with: String(port))
                return searchset(next: base + "?_getpages=abc&_page=2", fullUrl: base + "/Observation/o1")
            }
            defer { Task { await up.stop() } }
            var options = TestEnvironment.Options()
            options.upstreamOverride = "http://127.0.0.1:\(up.port)/fhir"
            try await GatewayFixture.with(options) { f in
                let r = try await f.client.send(.GET, "\(f.base)/Observation?code=x", token: try f.token("user/*.rs"))
                #expect(r.status == 200, "\(spelling)")
                #expect(!r.text.contains("127.0.0.1:\(up.port)") && !r.text.contains("u002F"), "\(spelling): \(r.text)")
                let entry = (r.json["entry"] as? [[String: Any]])?.first
                #expect(entry?["fullUrl"] as? String == "\(f.base)/Observation/o1", "\(spelling)")
                let next = (r.json["link"] as? [[String: Any]])?.first?["url"] as? String ?? ""
                #expect(next.hasPrefix(f.base + "?") && next.contains("_fhirgate_page="), "\(spelling): \(next)")
            }
        }
    }

    @Test func aBundleThatCannotNameTheUpstreamPassesByteForByte() async throws {
        let text = searchset(next: "https://elsewhere.example/fhir?page=2", fullUrl: "urn:uuid:1c3a7a5e-0000-4000-8000-000000000001")
            .replacingOccurrences(of: #""status":"final""#, with: #""status":"final","note":[{"text":"said \"fine\" \\u0068"}]"#)
        let up = try await upstream { _ in text }
        defer { Task { await up.stop() } }
        var options = TestEnvironment.Options()
        options.upstreamOverride = "http://127.0.0.1:\(up.port)/fhir"
        try await GatewayFixture.with(options) { f in
            let r = try await f.client.send(.GET, "\(f.base)/Observation?code=x", token: try f.token("user/*.rs"))
            #expect(r.status == 200)
            #expect(r.text == text)
        }
    }
}
}
