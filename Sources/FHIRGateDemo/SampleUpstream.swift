import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A small FHIR R4 server on loopback serving the synthetic data set: what `fhirgate
/// demo` puts behind the gateway and what the integration tests forward to. Besides
/// FHIR reads, searches, history, writes and `$everything` (SampleUpstream+FHIR) it has
/// test behaviours behind `Binary/…` ids (stream N bytes, hang, echo) and records every
/// request it receives.
public final class SampleUpstream: Sendable {
    let store: Mutex<SampleData>
    let group: any EventLoopGroup
    let received = Mutex<[String]>([])
    let bodies = Mutex<[[UInt8]]>([])
    let channel = Mutex<(any Channel)?>(nil)
    let connections = Mutex<[ObjectIdentifier: any Channel]>([:])
    let stopped = Atomic<Bool>(false)
    let basePath: String
    /// Bulk Data exports started here (SampleUpstream+Bulk).
    let exports = Mutex<[String: SampleExport]>([:])
    /// When above 0, every export manifest also lists one generated NDJSON file of this
    /// many bytes (for streaming tests of multi-GB downloads).
    public let bulkExtraBytes = Atomic<Int>(0)
    /// The base it writes in its links, references and Bulk URLs instead of its own
    /// address (as HAPI does with `server_address` behind a balancer).
    let advertisedBase: String?

    public init(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, basePath: String = "/fhir", advertisedBase: String? = nil) throws {
        store = Mutex(try SampleData.load())
        self.group = group
        self.basePath = basePath
        self.advertisedBase = advertisedBase
    }

    /// Request lines received so far (`METHOD /path?query`).
    public var requestLog: [String] { received.withLock { $0 } }

    /// Request bodies received so far, in order.
    public var receivedBodies: [[UInt8]] { bodies.withLock { $0 } }

    /// Binds and serves in the background; returns the port.
    public func start(host: String = "127.0.0.1", port: Int = 0) async throws -> Int {
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                }
            }
        channel.withLock { $0 = server.channel }
        let boundPort = server.channel.localAddress?.port ?? port
        Task {
            await withDiscardingTaskGroup { group in
                try? await server.executeThenClose { inbound in
                    for try await connection in inbound {
                        group.addTask { try? await self.serve(connection, port: boundPort) }
                    }
                }
            }
        }
        return boundPort
    }

    /// Behaves like a crashed upstream: every open connection is closed and new ones are
    /// closed as soon as they are accepted. (The listening socket stays, so no accepted
    /// connection is ever dropped unconsumed, which NIO forbids.)
    public func stop() async {
        stopped.store(true, ordering: .sequentiallyConsistent)
        for open in connections.withLock({ Array($0.values) }) { try? await open.close() }
    }

    /// Back after `stop()`: new connections are served again (an upstream restart).
    public func resume() {
        stopped.store(false, ordering: .sequentiallyConsistent)
    }

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, port: Int) async throws {
        if stopped.load(ordering: .sequentiallyConsistent) {
            try await connection.executeThenClose { _, _ in }
            return
        }
        let id = ObjectIdentifier(connection.channel)
        connections.withLock { $0[id] = connection.channel }
        defer { connections.withLock { _ = $0.removeValue(forKey: id) } }
        try await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body = ByteBuffer()
            for try await part in inbound {
                switch part {
                case .head(let h):
                    head = h
                    body.clear()
                case .body(var b):
                    body.writeBuffer(&b)
                case .end:
                    guard let h = head else { return }
                    received.withLock { $0.append("\(h.method.rawValue) \(h.uri)") }
                    bodies.withLock { $0.append(Array(body.readableBytesView)) }
                    try await respond(h, body: body, outbound: outbound, port: port)
                    if !h.isKeepAlive { return }
                }
            }
        }
    }

    func outcome(_ code: String) -> [String: Any] {
        ["resourceType": "OperationOutcome", "issue": [["severity": code == "informational" ? "information" : "error", "code": code]]]
    }

    func send(_ status: HTTPResponseStatus, json: [String: Any], head: HTTPRequestHead,
                      outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>, contentType: String = "application/fhir+json",
                      extraHeaders: [(String, String)] = []) async throws {
        let data = (try? JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])) ?? Data()
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(data.count))
        headers.add(name: "Keep-Alive", value: "timeout=30")
        if !extraHeaders.contains(where: { $0.0 == "Connection" }) { headers.add(name: "Connection", value: "keep-alive") }
        for (n, v) in extraHeaders { headers.add(name: n, value: v) }
        try await outbound.write(.head(HTTPResponseHead(version: head.version, status: status, headers: headers)))
        if head.method != .HEAD { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: data)))) }
        try await outbound.write(.end(nil))
    }

    /// NDJSON-looking lines, `total` bytes in all, written in 64 KiB chunks with
    /// backpressure. The byte at each position is fixed, so `Range: bytes=N-` (answered
    /// with 206) resumes exactly where a cut download stopped.
    func streamBytes(_ total: Int, head: HTTPRequestHead, outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws {
        var start = 0
        if let range = head.headers.first(name: "range"), range.hasPrefix("bytes="), range.hasSuffix("-"),
           let n = Int(range.dropFirst(6).dropLast()), n < total {
            start = n
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/fhir+ndjson")
        headers.add(name: "Content-Length", value: String(total - start))
        headers.add(name: "Accept-Ranges", value: "bytes")
        if start > 0 { headers.add(name: "Content-Range", value: "bytes \(start)-\(total - 1)/\(total)") }
        try await outbound.write(.head(HTTPResponseHead(version: head.version, status: start > 0 ? .partialContent : .ok, headers: headers)))
        if head.method == .HEAD {
            try await outbound.write(.end(nil))
            return
        }
        let line = Self.generatedLine
        var chunk = [UInt8]()
        while chunk.count < 65536 + line.count { chunk += line }
        var sent = start
        while sent < total {
            let phase = sent % line.count
            let n = min(65536, total - sent)
            try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: chunk[phase..<(phase + n)]))))
            sent += n
        }
        try await outbound.write(.end(nil))
    }

    /// The repeated line of generated NDJSON bodies (one Observation per line).
    public static let generatedLine = Array("{\"resourceType\":\"Observation\",\"id\":\"x\",\"status\":\"final\"}\n".utf8)
}
