import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// An HTTPS client that trusts the test CA. HTTP/1.1 unless `http2` (then it offers
/// `h2` in ALPN and multiplexes requests on one connection).
struct TestClient {
    let client: HTTPClient

    init(caPEM: String, tls: TLSConfiguration? = nil, http2: Bool = false) throws {
        var configuration = tls ?? TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(caPEM.utf8)))
        var settings = HTTPClient.Configuration(tlsConfiguration: configuration, redirectConfiguration: .disallow,
                                                timeout: .init(connect: .seconds(5), read: .seconds(20)))
        settings.httpVersion = http2 ? .automatic : .http1Only
        client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: settings)
    }

    struct Response {
        let status: Int
        let headers: HTTPHeaders
        let body: [UInt8]
        var version: HTTPVersion = .http1_1
        var text: String { String(decoding: body, as: UTF8.self) }
        var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]) ?? [:] }
    }

    func send(_ method: HTTPMethod = .GET, _ url: String, token: String? = nil, headers: [(String, String)] = [], body: [UInt8]? = nil) async throws -> Response {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer " + token) }
        for (n, v) in headers { request.headers.add(name: n, value: v) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await client.execute(request, timeout: .seconds(20))
        let collected = try await response.body.collect(upTo: 256 << 20)
        return Response(status: Int(response.status.code), headers: response.headers, body: Array(collected.readableBytesView),
                         version: response.version)
    }

    func shutdown() async {
        try? await client.shutdown()
    }
}

/// A raw TLS connection for requests no well-behaved client would send.
final class RawTLSConnection: @unchecked Sendable {
    let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>

    /// `useTLS: false` opens a plain TCP connection (for TLS-level garbage and silence).
    init(port: Int, caPEM: String, maxTLS: TLSVersion? = nil, minTLS: TLSVersion? = nil, useTLS: Bool = true) async throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(caPEM.utf8)))
        if let maxTLS { tls.maximumTLSVersion = maxTLS }
        if let minTLS { tls.minimumTLSVersion = minTLS }
        let context = try NIOSSLContext(configuration: tls)
        channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if useTLS {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: "localhost"))
                    }
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
    }

    func send(_ text: String) async throws {
        try await channel.outbound.write(ByteBuffer(string: text))
    }

    func send(_ bytes: [UInt8]) async throws {
        try await channel.outbound.write(ByteBuffer(bytes: bytes))
    }

    /// Reads until the peer closes or `timeout` passes; returns what arrived and whether it closed.
    func readUntilClose(timeout: Duration) async -> (text: String, closed: Bool) {
        let inbound = channel.inbound
        let received = ReceivedText()
        return await withTaskGroup(of: Bool?.self) { group in
            group.addTask {
                do {
                    for try await chunk in inbound { received.append(String(buffer: chunk)) }
                } catch {}
                return true
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next()!
            group.cancelAll()
            return (received.text, first ?? false)
        }
    }

    /// Reads in the background from now on (use instead of `readUntilClose`): for
    /// exchanges that wait on what the gateway sends before the request is complete.
    func startReading() -> ReceivedText {
        let inbound = channel.inbound
        let received = ReceivedText()
        Task {
            do {
                for try await chunk in inbound { received.append(String(buffer: chunk)) }
            } catch {}
        }
        return received
    }

    /// NIO requires the outbound writer to be finished before the channel wrapper goes
    /// away (a debug-build precondition): every exit path finishes it.
    func close() async {
        channel.outbound.finish()
        try? await channel.channel.close()
    }

    deinit {
        channel.outbound.finish()
        channel.channel.close(promise: nil)
    }
}

/// Text gathered by a reader task (what arrived before a timeout counts too).
final class ReceivedText: @unchecked Sendable {
    private let lock = NSLock()
    private var value = ""
    var text: String { lock.withLock { value } }
    func append(_ more: String) { lock.withLock { value += more } }

    /// Whether `marker` arrives within `timeout`.
    func waitFor(_ marker: String, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if text.contains(marker) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return text.contains(marker)
    }
}
