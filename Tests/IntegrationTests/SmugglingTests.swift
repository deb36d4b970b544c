import Foundation
import Testing

extension IntegrationSuite {
/// Hostile HTTP/1.1 on raw TLS sockets: request smuggling forms and malformed heads. Every
/// one is refused with 400 (431 for an oversized head) and its connection closed, and the
/// upstream — which logs every request it receives — receives none of them, not even the
/// valid request pipelined behind a bad one.
@Suite(.serialized) struct SmugglingTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let bytes: [UInt8]
        var expected: Set<Int> = [400]
        var testDescription: String { name }

        init(_ name: String, _ text: String, expected: Set<Int> = [400]) {
            self.name = name
            bytes = Array(text.utf8)
            self.expected = expected
        }

        init(_ name: String, bytes: [UInt8]) {
            self.name = name
            self.bytes = bytes
        }
    }

    static let h = "Host: localhost\r\n"
    /// The valid request pipelined (or smuggled) behind a bad one; its query tells it apart
    /// from the gateway's own upstream probe (`GET /metadata`).
    static let next = "GET /r4/metadata?_format=json HTTP/1.1\r\nHost: localhost\r\n\r\n"
    static let smuggledBody = "0\r\n\r\n" + next
    static let cases: [Case] = [
        // Content-Length with Transfer-Encoding, in both orders and disguises.
        Case("CL then TE", "POST /r4/metadata HTTP/1.1\r\n\(h)Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX" + next),
        Case("TE then CL", "POST /r4/metadata HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\nX" + next),
        Case("CL.TE with a smuggled request in the body",
             "POST /r4/metadata HTTP/1.1\r\n\(h)Content-Length: \(smuggledBody.utf8.count)\r\nTransfer-Encoding: chunked\r\n\r\n" + smuggledBody),
        Case("TE.CL with a smuggled request in the chunk",
             "POST /r4/metadata HTTP/1.1\r\n\(h)Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n\(String(next.utf8.count, radix: 16))\r\n\(next)\r\n0\r\n\r\n"),
        Case("duplicate Content-Length, same value", "POST /r4/metadata HTTP/1.1\r\n\(h)Content-Length: 4\r\nContent-Length: 4\r\n\r\nabcd" + next),
        Case("conflicting Content-Length", "POST /r4/metadata HTTP/1.1\r\n\(h)Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde" + next),
        Case("Content-Length list", "POST /r4/metadata HTTP/1.1\r\n\(h)Content-Length: 4, 5\r\n\r\nabcde" + next),
        Case("Content-Length with a sign", "POST /r4/metadata HTTP/1.1\r\n\(h)Content-Length: +4\r\n\r\nabcd" + next),
        Case("negative Content-Length", "POST /r4/metadata HTTP/1.1\r\n\(h)Content-Length: -1\r\n\r\n" + next),
        Case("hex Content-Length", "POST /r4/metadata HTTP/1.1\r\n\(h)Content-Length: 0x4\r\n\r\nabcd" + next),
        Case("Content-Length with inner space", "POST /r4/metadata HTTP/1.1\r\n\(h)Content-Length: 4 4\r\n\r\nabcd" + next),
        Case("huge Content-Length digits", "POST /r4/metadata HTTP/1.1\r\n\(h)Content-Length: 99999999999999999999999\r\n\r\n" + next),
        Case("Transfer-Encoding chunked, identity", "POST /r4/metadata HTTP/1.1\r\n\(h)Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" + next),
        Case("Transfer-Encoding identity", "POST /r4/metadata HTTP/1.1\r\n\(h)Transfer-Encoding: identity\r\n\r\n" + next),
        Case("Transfer-Encoding xchunked", "POST /r4/metadata HTTP/1.1\r\n\(h)Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" + next),
        Case("Transfer-Encoding with a vertical tab", "POST /r4/metadata HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\u{0B}\r\n\r\n0\r\n\r\n" + next),
        Case("Transfer-Encoding twice", "POST /r4/metadata HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + next),
        Case("space before the colon", "POST /r4/metadata HTTP/1.1\r\n\(h)Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + next),
        Case("Transfer-Encoding on HTTP/1.0", "POST /r4/metadata HTTP/1.0\r\n\(h)Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        Case("Transfer-Encoding folded onto the next line", "POST /r4/metadata HTTP/1.1\r\n\(h)Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n" + next),
        // Chunked bodies that do not parse.
        Case("chunk size not hex", "POST /r4/metadata HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\n\r\nzz\r\nabcd\r\n0\r\n\r\n" + next),
        Case("chunk size overflow", "POST /r4/metadata HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nabcd\r\n0\r\n\r\n" + next),
        Case("chunk data longer than its size", "POST /r4/metadata HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\n\r\n4\r\nabcdX\r\n0\r\n\r\n" + next),
        Case("chunk size with a leading space", "POST /r4/metadata HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\n\r\n 4\r\nabcd\r\n0\r\n\r\n" + next),
        Case("chunk size with a bare LF", "POST /r4/metadata HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\n\r\n4\nabcd\r\n0\r\n\r\n" + next),
        // Line endings, folding, header names, NULs.
        Case("bare LF line endings", "GET /r4/metadata HTTP/1.1\nHost: localhost\n\n" + next),
        Case("bare LF between headers", "GET /r4/metadata HTTP/1.1\r\nHost: localhost\nX-A: b\r\n\r\n" + next),
        Case("bare CR in a header value", "GET /r4/metadata HTTP/1.1\r\n\(h)X-A: a\rb\r\n\r\n" + next),
        Case("obs-fold", "GET /r4/metadata HTTP/1.1\r\n\(h)X-A: a\r\n b\r\n\r\n" + next),
        Case("space in a header name", "GET /r4/metadata HTTP/1.1\r\n\(h)X A: b\r\n\r\n" + next),
        Case("separator in a header name", "GET /r4/metadata HTTP/1.1\r\n\(h)X(A): b\r\n\r\n" + next),
        Case("empty header name", "GET /r4/metadata HTTP/1.1\r\n\(h): b\r\n\r\n" + next),
        Case("header line without a colon", "GET /r4/metadata HTTP/1.1\r\n\(h)Garbage\r\n\r\n" + next),
        Case("NUL in a header value", bytes: Array("GET /r4/metadata HTTP/1.1\r\n\(h)X-A: a".utf8) + [0] + Array("b\r\n\r\n\(next)".utf8)),
        Case("NUL in the target", bytes: Array("GET /r4/meta".utf8) + [0] + Array("data HTTP/1.1\r\n\(h)\r\n\(next)".utf8)),
        // Targets that are not origin-form, or not clean.
        Case("absolute-form target", "GET https://localhost/r4/metadata HTTP/1.1\r\n\(h)\r\n" + next),
        Case("asterisk-form target", "OPTIONS * HTTP/1.1\r\n\(h)\r\n" + next),
        Case("authority-form target", "CONNECT localhost:443 HTTP/1.1\r\n\(h)\r\n" + next),
        Case("encoded CRLF in the path", "GET /r4/metadata%0d%0aX-A:%20b HTTP/1.1\r\n\(h)\r\n" + next),
        Case("dot segments", "GET /r4/../r4/metadata HTTP/1.1\r\n\(h)\r\n" + next),
        Case("encoded slash", "GET /r4%2Fmetadata HTTP/1.1\r\n\(h)\r\n" + next),
        Case("backslash in the path", "GET /r4\\metadata HTTP/1.1\r\n\(h)\r\n" + next),
        Case("fragment in the target", "GET /r4/metadata#x HTTP/1.1\r\n\(h)\r\n" + next),
        Case("space inside the target", "GET /r4/meta data HTTP/1.1\r\n\(h)\r\n" + next),
        Case("two spaces after the method", "GET  /r4/metadata HTTP/1.1\r\n\(h)\r\n" + next),
        Case("tab as the separator", "GET\t/r4/metadata HTTP/1.1\r\n\(h)\r\n" + next),
        // Host and version.
        Case("missing Host", "GET /r4/metadata HTTP/1.1\r\nAccept: */*\r\n\r\n" + next),
        Case("duplicate Host", "GET /r4/metadata HTTP/1.1\r\n\(h)\(h)\r\n" + next),
        Case("Host list", "GET /r4/metadata HTTP/1.1\r\nHost: localhost, upstream.internal\r\n\r\n" + next),
        Case("Host with a trailing comma", "GET /r4/metadata HTTP/1.1\r\nHost: localhost,\r\n\r\n" + next),
        Case("empty Host", "GET /r4/metadata HTTP/1.1\r\nHost: \r\n\r\n" + next),
        Case("HTTP/1.0 keep-alive", "GET /r4/metadata HTTP/1.0\r\n\(h)Connection: keep-alive\r\n\r\n" + next),
        Case("HTTP/0.9 request line", "GET /r4/metadata\r\n\r\n"),
        Case("HTTP/2.0 in an HTTP/1 request line", "GET /r4/metadata HTTP/2.0\r\n\(h)\r\n" + next),
        Case("unknown HTTP version", "GET /r4/metadata HTTP/9.9\r\n\(h)\r\n" + next),
        Case("method override header", "POST /r4/metadata HTTP/1.1\r\n\(h)X-HTTP-Method-Override: GET\r\nContent-Length: 0\r\n\r\n" + next),
        // Size.
        Case("oversized request line", "GET /r4/metadata?x=\(String(repeating: "a", count: 20_000)) HTTP/1.1\r\n\(h)\r\n" + next, expected: [431, 400]),
    ]

    @Test func everyMalformedRequestIsRefusedAndNoneReachesTheUpstream() async throws {
        #expect(Self.cases.count >= 40)
        var options = TestEnvironment.Options()
        options.maxHeaderBytes = 8192
        try await GatewayFixture.with(options) { f in
            var problems: [String] = []
            for c in Self.cases {
                guard let raw = try? await RawTLSConnection(port: f.gateway.port, caPEM: f.env.pki.caCertificatePEM) else {
                    let log = f.gateway.log
                    try? log.write(toFile: NSTemporaryDirectory() + "fhirgate-smuggling-crash.log", atomically: true, encoding: .utf8)
                    let crash = log.range(of: "Fatal error").map { String(log[$0.lowerBound...].prefix(2500)) } ?? String(log.suffix(2500))
                    Issue.record("gateway not accepting after the case before \(c.name): \(crash)")
                    return
                }
                try await raw.send(c.bytes)
                let (text, closed) = await raw.readUntilClose(timeout: .seconds(3))
                await raw.close()
                let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
                let responses = text.components(separatedBy: "HTTP/1.1 ").count - 1
                if !c.expected.contains(status) { problems.append("\(c.name): status \(status) (\(text.prefix(80).debugDescription))") }
                if !closed { problems.append("\(c.name): connection left open") }
                if responses > 1 { problems.append("\(c.name): \(responses) responses (a pipelined request was served)") }
                if status != 0, !text.contains("OperationOutcome") { problems.append("\(c.name): no OperationOutcome body") }
            }
            #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
            let reached = f.upstream.requestLog.filter { $0 != "GET /fhir/metadata" } // the readiness probe's
            #expect(reached.isEmpty, "the upstream received: \(reached)")
            // Every refusal is audited.
            try await Task.sleep(for: .milliseconds(200))
            #expect(f.env.auditLines.count >= Self.cases.count - 2, "\(f.env.auditLines.count) audit records for \(Self.cases.count) cases")
        }
    }
}
}
