import FHIRGateTestSupport
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import Testing
@testable import FHIRGateServer

/// The route's upstream client against a real HTTP server on loopback: keep-alive reuse,
/// the upstream closing, abandoned bodies, backpressure, timeouts, the connection cap.
@Suite struct UpstreamClientTests {
    /// What the test server saw.
    final class Seen: Sendable {
        let connections = Atomic<Int>(0)
        let targets = Mutex<[String]>([])
        let hosts = Mutex<[String]>([])
    }

    /// Answers by path: `/close` with Connection: close, `/big` with 4 MB, `/early` with 413
    /// before the body, `/silent` never, `/stall` a head and
    /// one chunk, `/slow` after 100 ms; anything else a small JSON body.
    static func startServer(_ seen: Seen) async throws -> (port: Int, channel: any Channel) {
        try await startLoopbackHTTPServer { connection in
            seen.connections.add(1, ordering: .relaxed)
            try await connection.executeThenClose { inbound, outbound in
                for try await part in inbound {
                    guard case .head(let head) = part else { continue }
                    seen.targets.withLock { $0.append(head.uri) }
                    seen.hosts.withLock { $0.append(head.headers.first(name: "host") ?? "-") }
                    var headers = HTTPHeaders()
                    switch head.uri {
                    case "/early":
                        // Answers at once, before the request body has arrived (an early 413).
                        headers.add(name: "Content-Length", value: "0")
                        try await outbound.write(contentsOf: [.head(HTTPResponseHead(version: .http1_1, status: .payloadTooLarge, headers: headers)),
                                                              .end(nil)])
                    case "/silent":
                        try await Task.sleep(for: .seconds(30))
                    case "/stall":
                        headers.add(name: "Content-Length", value: "100")
                        try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)))
                        try await outbound.write(.body(.byteBuffer(ByteBuffer(string: "partial"))))
                        try await Task.sleep(for: .seconds(30))
                    case "/big":
                        let size = 4 << 20
                        headers.add(name: "Content-Length", value: String(size))
                        try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)))
                        let chunk = ByteBuffer(repeating: 0x41, count: 64 << 10)
                        for _ in 0..<(size / chunk.readableBytes) {
                            try await outbound.write(.body(.byteBuffer(chunk)))
                        }
                        try await outbound.write(.end(nil))
                    default:
                        if head.uri == "/slow" { try await Task.sleep(for: .milliseconds(100)) }
                        let body = ByteBuffer(string: #"{"resourceType":"Patient","id":"a"}"#)
                        headers.add(name: "Content-Length", value: String(body.readableBytes))
                        if head.uri == "/close" { headers.add(name: "Connection", value: "close") }
                        try await outbound.write(contentsOf: [.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)),
                                                              .body(.byteBuffer(body)), .end(nil)])
                        if head.uri == "/close" { return }
                    }
                }
            }
        }
    }

    static func client(port: Int, readTimeout: TimeAmount = .seconds(5), group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                       maxConnections: Int = 64) throws -> UpstreamClient {
        try UpstreamClient(origin: try #require(UpstreamOrigin(url: "http://127.0.0.1:\(port)/fhir")), tls: nil, connectTimeout: .seconds(2),
                           readTimeout: readTimeout, group: group, maxConnectionsPerLoop: maxConnections)
    }

    @Test func sequentialRequestsShareOneKeptAliveConnection() async throws {
        let seen = Seen()
        let (port, server) = try await Self.startServer(seen)
        defer { server.close(promise: nil) }
        // One loop, so every request meets the same pool.
        let client = try Self.client(port: port, group: MultiThreadedEventLoopGroup.singleton.next())
        for i in 0..<10 {
            let response = try await client.execute(UpstreamRequest(url: "http://127.0.0.1:\(port)/fhir/Patient/a?n=\(i)"), timeout: .seconds(2))
            #expect(response.status == .ok)
            let body = try await response.body.collect(upTo: 1 << 20)
            #expect(String(buffer: body) == #"{"resourceType":"Patient","id":"a"}"#)
        }
        #expect(seen.connections.load(ordering: .relaxed) == 1)
        #expect(seen.targets.withLock { $0 }.last == "/fhir/Patient/a?n=9")
        #expect(seen.hosts.withLock { $0 }.allSatisfy { $0 == "127.0.0.1:\(port)" })
        client.shutdown()
    }

    @Test func anUpstreamThatClosesGetsAFreshConnectionNextTime() async throws {
        let seen = Seen()
        let (port, server) = try await Self.startServer(seen)
        defer { server.close(promise: nil) }
        let client = try Self.client(port: port, group: MultiThreadedEventLoopGroup.singleton.next())
        for _ in 0..<3 {
            let response = try await client.execute(UpstreamRequest(url: "http://127.0.0.1:\(port)/close"), timeout: .seconds(2))
            #expect(try await response.body.collect(upTo: 1 << 20).readableBytes > 0)
        }
        #expect(seen.connections.load(ordering: .relaxed) == 3)
        client.shutdown()
    }

    @Test func anAbandonedBodyClosesItsConnectionAndTheNextRequestWorks() async throws {
        let seen = Seen()
        let (port, server) = try await Self.startServer(seen)
        defer { server.close(promise: nil) }
        let client = try Self.client(port: port, group: MultiThreadedEventLoopGroup.singleton.next())
        do {
            let response = try await client.execute(UpstreamRequest(url: "http://127.0.0.1:\(port)/big"), timeout: .seconds(2))
            var chunks = response.body.makeAsyncIterator()
            #expect(try await chunks.next() != nil)
        } // the rest of the 4 MB is never read
        let next = try await client.execute(UpstreamRequest(url: "http://127.0.0.1:\(port)/small"), timeout: .seconds(2))
        #expect(String(buffer: try await next.body.collect(upTo: 1 << 20)).contains("Patient"))
        #expect(seen.connections.load(ordering: .relaxed) == 2)
        client.shutdown()
    }

    @Test func anAnswerBeforeTheWholeBodyWentIsNotFollowedOnThatConnection() async throws {
        let seen = Seen()
        let (port, server) = try await Self.startServer(seen)
        defer { server.close(promise: nil) }
        let client = try Self.client(port: port, group: MultiThreadedEventLoopGroup.singleton.next())
        var early = UpstreamRequest(url: "http://127.0.0.1:\(port)/early", method: .POST)
        early.body = ByteBuffer(repeating: 0x20, count: 16 << 20)
        let refused = try await client.execute(early, timeout: .seconds(5))
        #expect(refused.status == .payloadTooLarge)
        _ = try await refused.body.collect(upTo: 1 << 10)
        // Whatever of the body was still unsent would be read as the next request.
        let next = try await client.execute(UpstreamRequest(url: "http://127.0.0.1:\(port)/small"), timeout: .seconds(5))
        #expect(next.status == .ok)
        #expect(seen.connections.load(ordering: .relaxed) == 2)
        client.shutdown()
    }

    @Test func aSlowConsumerHoldsTheUpstreamBack() async throws {
        let server = try await WritabilityPacedServer(size: 1 << 30)
        defer { server.close() }
        let client = try Self.client(port: server.port)
        let response = try await client.execute(UpstreamRequest(url: "http://127.0.0.1:\(server.port)/huge"), timeout: .seconds(2))
        var chunks = response.body.makeAsyncIterator()
        _ = try await chunks.next()
        // Nobody reads: once the socket buffers (tens of MB on this kernel) are full, the
        // upstream is stuck. Without backpressure the whole 1 GB would go through.
        var sent = server.bytesSent
        var stalled = false
        for _ in 0..<20 where !stalled {
            try await Task.sleep(for: .milliseconds(200))
            let now = server.bytesSent
            stalled = now == sent
            sent = now
        }
        #expect(stalled, "the upstream kept sending (\(sent) bytes) while nobody read")
        #expect(sent < 256 << 20)
        var total = 0
        for _ in 0..<64 { total += try await chunks.next()?.readableBytes ?? 0 }
        #expect(total > 0)
        client.shutdown()
    }

    @Test func noHeadInTimeIsATimeout() async throws {
        let seen = Seen()
        let (port, server) = try await Self.startServer(seen)
        defer { server.close(promise: nil) }
        let client = try Self.client(port: port)
        let started = ContinuousClock.now
        await #expect(throws: UpstreamError.timeout) {
            _ = try await client.execute(UpstreamRequest(url: "http://127.0.0.1:\(port)/silent"), timeout: .milliseconds(200))
        }
        #expect(started.duration(to: .now) < .seconds(2))
        client.shutdown()
    }

    @Test func aStalledBodyFailsAfterTheReadTimeout() async throws {
        let seen = Seen()
        let (port, server) = try await Self.startServer(seen)
        defer { server.close(promise: nil) }
        let client = try Self.client(port: port, readTimeout: .milliseconds(300))
        let response = try await client.execute(UpstreamRequest(url: "http://127.0.0.1:\(port)/stall"), timeout: .seconds(2))
        await #expect(throws: UpstreamError.timeout) { _ = try await response.body.collect(upTo: 1 << 20) }
        client.shutdown()
    }

    @Test func requestsBeyondTheCapWaitForAFreeConnection() async throws {
        let seen = Seen()
        let (port, server) = try await Self.startServer(seen)
        defer { server.close(promise: nil) }
        let client = try Self.client(port: port, group: MultiThreadedEventLoopGroup.singleton.next(), maxConnections: 3)
        let statuses = try await withThrowingTaskGroup(of: HTTPResponseStatus.self) { group in
            for _ in 0..<12 {
                group.addTask {
                    let response = try await client.execute(UpstreamRequest(url: "http://127.0.0.1:\(port)/slow"), timeout: .seconds(5))
                    _ = try await response.body.collect(upTo: 1 << 20)
                    return response.status
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(statuses.count == 12 && statuses.allSatisfy { $0 == .ok })
        #expect(seen.connections.load(ordering: .relaxed) <= 3)
        client.shutdown()
    }

    @Test func otherOriginsAndDeadPortsAreRefused() async throws {
        let seen = Seen()
        let (port, server) = try await Self.startServer(seen)
        let client = try Self.client(port: port)
        await #expect(throws: UpstreamError.foreignOrigin) {
            _ = try await client.execute(UpstreamRequest(url: "http://127.0.0.1:\(port + 1)/fhir/Patient"), timeout: .seconds(1))
        }
        await #expect(throws: UpstreamError.foreignOrigin) {
            _ = try await client.execute(UpstreamRequest(url: "http://127.0.0.1:\(port)@evil.example/fhir"), timeout: .seconds(1))
        }
        try await server.close()
        await #expect(throws: UpstreamError.unreachable) {
            _ = try await client.execute(UpstreamRequest(url: "http://127.0.0.1:\(port)/fhir/Patient"), timeout: .seconds(1))
        }
        #expect(seen.connections.load(ordering: .relaxed) == 0)
        client.shutdown()
    }

    @Test func originsParse() throws {
        let plain = try #require(UpstreamOrigin(url: "http://ehr.local:8080/fhir/r4"))
        #expect(plain.host == "ehr.local" && plain.port == 8080 && !plain.useTLS && plain.hostHeader == "ehr.local:8080")
        #expect(plain.target(of: "http://ehr.local:8080/fhir/r4/Patient?x=1") == "/fhir/r4/Patient?x=1")
        #expect(plain.target(of: "http://ehr.local:8080") == "/")
        #expect(plain.target(of: "http://ehr.local:80801/fhir") == nil)
        let secure = try #require(UpstreamOrigin(url: "https://[::1]/fhir"))
        #expect(secure.host == "::1" && secure.port == 443 && secure.useTLS && secure.hostHeader == "[::1]" && secure.hostIsAddress)
        #expect(UpstreamOrigin(url: "ftp://x/fhir") == nil)
        #expect(UpstreamOrigin(url: "http://user@x/fhir") == nil)
        #expect(UpstreamOrigin(url: "http://x:0/fhir") == nil)
    }
}
