import AsyncHTTPClient
import FHIRGateTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing
@testable import FHIRGateAuth

/// A loopback RFC 7662 endpoint: the token text decides the answer.
final class IntrospectionServer: @unchecked Sendable {
    private let lock = NSLock()
    private var calls: [String] = []
    private var channel: (any Channel)?
    private(set) var port = 0
    var url: String { "http://127.0.0.1:\(port)/introspect" }
    var requests: [String] { lock.withLock { calls } }

    func start() async throws {
        (port, channel) = try await startLoopbackHTTPServer { [self] connection in try await self.serve(connection) }
    }

    func stop() async { try? await channel?.close() }

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async throws {
        try await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body = ""
            for try await part in inbound {
                switch part {
                case .head(let h): head = h; body = ""
                case .body(let b): body += String(buffer: b)
                case .end:
                    let auth = head?.headers.first(name: "authorization") ?? ""
                    lock.withLock { calls.append(body + " " + auth) }
                    let token = body.split(separator: "&").first { $0.hasPrefix("token=") }.map { String($0.dropFirst(6)) } ?? ""
                    var status = HTTPResponseStatus.ok
                    var json = #"{"active":false}"#
                    let exp = Int(Date().timeIntervalSince1970) + 300
                    switch token {
                    case "opaque-active":
                        json = #"{"active":true,"scope":"patient/Observation.rs launch/patient","client_id":"app9","sub":"u9","patient":"p9","exp":\#(exp),"fhirUser":"Patient/p9"}"#
                    case "opaque-other-aud":
                        json = #"{"active":true,"scope":"user/*.rs","client_id":"app9","exp":\#(exp),"aud":"https://elsewhere/r4"}"#
                    case "opaque-slow":
                        try await Task.sleep(for: .milliseconds(3000))
                    case "opaque-error":
                        status = .internalServerError
                        json = "oops"
                    default: break
                    }
                    var headers = HTTPHeaders()
                    headers.add(name: "Content-Type", value: "application/json")
                    headers.add(name: "Content-Length", value: String(json.utf8.count))
                    try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers)))
                    try await outbound.write(.body(.byteBuffer(ByteBuffer(string: json))))
                    try await outbound.write(.end(nil))
                }
            }
        }
    }
}

@Suite(.serialized) struct IntrospectionTests {
    static let audience = "https://gw.test.example/r4"

    func withVerifier(_ body: (TokenVerifier, IntrospectionServer) async throws -> Void) async throws {
        let server = IntrospectionServer()
        try await server.start()
        let client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        let settings = IntrospectionClient.Settings(endpoint: server.url, clientID: "gateway", clientSecret: "s3cret", timeoutSeconds: 1.5)
        let verifier = TokenVerifier(issuers: [IssuerSettings(issuer: "https://as.test", keySource: .introspectionOnly, introspection: settings)],
                                     httpClient: client)
        do { try await body(verifier, server) } catch {
            try? await client.shutdown(); await server.stop(); throw error
        }
        try? await client.shutdown()
        await server.stop()
    }

    @Test func activeTokenPassesAndIsCached() async throws {
        try await withVerifier { verifier, server in
            let access = try await verifier.verify("opaque-active", audience: Self.audience)
            #expect(access.patient == "p9")
            #expect(access.clientID == "app9")
            #expect(access.fhirUser == "Patient/p9")
            #expect(access.scopes.scopes.count == 1)
            _ = try await verifier.verify("opaque-active", audience: Self.audience)
            #expect(server.requests.count == 1, "the positive answer is cached")
            #expect(server.requests.first?.contains("Basic " + Data("gateway:s3cret".utf8).base64EncodedString()) == true)
            #expect(server.requests.first?.contains("token_type_hint=access_token") == true)
        }
    }

    @Test func inactiveTokenIsRefusedAndBrieflyCached() async throws {
        try await withVerifier { verifier, server in
            await #expect(throws: TokenFailure.inactive) { _ = try await verifier.verify("opaque-unknown", audience: Self.audience) }
            await #expect(throws: TokenFailure.inactive) { _ = try await verifier.verify("opaque-unknown", audience: Self.audience) }
            #expect(server.requests.count == 1)
        }
    }

    @Test func timeoutAndErrorFailClosed() async throws {
        try await withVerifier { verifier, server in
            await #expect(throws: TokenFailure.introspectionUnavailable) { _ = try await verifier.verify("opaque-slow", audience: Self.audience) }
            await #expect(throws: TokenFailure.introspectionUnavailable) { _ = try await verifier.verify("opaque-error", audience: Self.audience) }
            // Failures are not cached: the endpoint is asked again.
            await #expect(throws: TokenFailure.introspectionUnavailable) { _ = try await verifier.verify("opaque-error", audience: Self.audience) }
            #expect(server.requests.count == 3)
        }
    }

    @Test func audienceInTheAnswerMustBeOurs() async throws {
        try await withVerifier { verifier, _ in
            await #expect(throws: TokenFailure.wrongAudience) { _ = try await verifier.verify("opaque-other-aud", audience: Self.audience) }
        }
    }
}
