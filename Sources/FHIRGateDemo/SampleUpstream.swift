import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A small FHIR R4 server on loopback serving the synthetic data set: what `fhirgate
/// demo` puts behind the gateway and what the integration tests forward to. Besides
/// FHIR reads, searches and creates it has test behaviours behind `Binary/…` ids (stream N
/// bytes, hang, echo) and records every request it receives.
public final class SampleUpstream: Sendable {
    let data: SampleData
    let group: any EventLoopGroup
    let received = Mutex<[String]>([])
    let bodies = Mutex<[[UInt8]]>([])
    let channel = Mutex<(any Channel)?>(nil)
    let connections = Mutex<[ObjectIdentifier: any Channel]>([:])
    let stopped = Atomic<Bool>(false)
    let basePath: String

    public init(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, basePath: String = "/fhir") throws {
        data = try SampleData.load()
        self.group = group
        self.basePath = basePath
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

    private func respond(_ head: HTTPRequestHead, body: ByteBuffer, outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>, port: Int) async throws {
        var path = String(head.uri.prefix { $0 != "?" })
        let query = head.uri.firstIndex(of: "?").map { String(head.uri[head.uri.index(after: $0)...]) } ?? ""
        if path.hasPrefix(basePath) { path.removeFirst(basePath.count) }
        let segments = path.split(separator: "/").map { String($0).removingPercentEncoding ?? String($0) }
        var params = query.split(separator: "&").map { pair -> (String, String) in
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (s: Substring) in s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(s) }
            return (decode(kv[0]), kv.count > 1 ? decode(kv[1]) : "")
        }
        let base = "http://127.0.0.1:\(port)\(basePath)"

        // Test behaviours behind ordinary FHIR paths, so they pass the gateway's
        // classifier: Binary/bytes-N streams N bytes, Binary/slow-MS answers after MS
        // milliseconds, Binary/hang never answers, Binary/echo describes the request.
        if segments.count == 2, segments[0] == "Binary", head.method == .GET {
            let id = segments[1]
            if id.hasPrefix("bytes-"), let n = Int(id.dropFirst(6)) {
                try await streamBytes(n, head: head, outbound: outbound)
                return
            }
            if id.hasPrefix("slow-"), let ms = Int(id.dropFirst(5)) {
                try await Task.sleep(for: .milliseconds(ms))
                try await send(.ok, json: ["resourceType": "Binary", "id": id, "contentType": "text/plain", "data": "c2xvdw=="], head: head, outbound: outbound)
                return
            }
            if id == "hang" {
                try await Task.sleep(for: .seconds(3600))
                return
            }
            if id == "echo" {
                var headers: [String: String] = [:]
                for (n, v) in head.headers { headers[n.lowercased()] = headers[n.lowercased()].map { $0 + ", " + v } ?? v }
                try await send(.ok, json: ["resourceType": "Binary", "id": "echo", "method": head.method.rawValue, "uri": head.uri, "headers": headers],
                               head: head, outbound: outbound, extraHeaders: [("Connection", "X-Upstream-Hop"), ("X-Upstream-Hop", "1"), ("Proxy-Authenticate", "Basic")])
                return
            }
        }

        switch (head.method, segments.count) {
        case (.GET, 1) where segments[0] == "metadata":
            try await send(.ok, json: ["resourceType": "CapabilityStatement", "status": "active", "kind": "instance", "fhirVersion": "4.0.1",
                                       "format": ["json"], "date": "2026-01-01"], head: head, outbound: outbound)
        case (.GET, 2) where segments == [".well-known", "smart-configuration"]:
            try await send(.ok, json: ["capabilities": ["launch-standalone", "client-public", "permission-v2", "permission-v1"]],
                           head: head, outbound: outbound, contentType: "application/json")
        case (.GET, 2), (.GET, 4), (.HEAD, 2):
            if let r = data.find(segments[0], segments[1]) {
                try await send(.ok, json: r, head: head, outbound: outbound)
            } else {
                try await send(.notFound, json: outcome("not-found"), head: head, outbound: outbound)
            }
        case (.GET, 1) where segments[0] != "metadata", (.POST, 2) where segments[1] == "_search":
            if head.method == .POST {
                params += String(buffer: body).split(separator: "&").map {
                    let kv = $0.split(separator: "=", maxSplits: 1)
                    return (String(kv[0]).removingPercentEncoding ?? "", kv.count > 1 ? (String(kv[1]).removingPercentEncoding ?? "") : "")
                }
            }
            let type = segments[0]
            let matches = data.search(type, params)
            var entries: [[String: Any]] = matches.map { ["fullUrl": "\(base)/\(type)/\($0["id"] as? String ?? "")", "resource": $0, "search": ["mode": "match"]] }
            if params.contains(where: { $0.0 == "_revinclude" && $0.1 == "Provenance:target" }) {
                let ids = Set(matches.map { "\(type)/\($0["id"] as? String ?? "")" })
                for p in data.byType["Provenance"] ?? [] {
                    let targets = (p.resource["target"] as? [[String: Any]] ?? []).compactMap { $0["reference"] as? String }
                    if targets.contains(where: ids.contains) {
                        entries.append(["fullUrl": "\(base)/Provenance/\(p.id)", "resource": p.resource, "search": ["mode": "include"]])
                    }
                }
            }
            // HAPI-style paging: `_count` pages, `next` is `[base]?_getpages=<id>&_getpagesoffset=N`.
            let count = params.first { $0.0 == "_count" }.flatMap { Int($0.1) } ?? 50
            let offset = params.first { $0.0 == "_getpagesoffset" }.flatMap { Int($0.1) } ?? 0
            let page = Array(entries.dropFirst(offset).prefix(count))
            var links: [[String: Any]] = [["relation": "self", "url": "\(base)/\(type)?\(query)"]]
            if offset + count < entries.count {
                let id = Data((type + "?" + query.split(separator: "&").filter { !$0.hasPrefix("_getpages") }.joined(separator: "&")).utf8)
                    .base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
                links.append(["relation": "next", "url": "\(base)?_getpages=\(id)&_getpagesoffset=\(offset + count)&_count=\(count)&_bundletype=searchset"])
            }
            let bundle: [String: Any] = ["resourceType": "Bundle", "type": "searchset", "total": matches.count, "link": links, "entry": page]
            try await send(.ok, json: bundle, head: head, outbound: outbound)
        case (.POST, 1):
            guard var resource = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] else {
                try await send(.badRequest, json: outcome("invalid"), head: head, outbound: outbound)
                return
            }
            let id = "new-" + UUID().uuidString.prefix(8).lowercased()
            resource["id"] = id
            resource["meta"] = ["versionId": "1", "lastUpdated": "2026-01-15T10:00:00Z"]
            try await send(.created, json: resource, head: head, outbound: outbound,
                           extraHeaders: [("Location", "\(base)/\(segments[0])/\(id)/_history/1")])
        case (.GET, 0) where params.contains(where: { $0.0 == "_getpages" }):
            // Continue a search: the page id is the original search, base64url.
            var id = params.first { $0.0 == "_getpages" }!.1.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            while id.count % 4 != 0 { id += "=" }
            guard let original = Data(base64Encoded: id).map({ String(decoding: $0, as: UTF8.self) }), let q = original.firstIndex(of: "?") else {
                try await send(.notFound, json: outcome("not-found"), head: head, outbound: outbound)
                return
            }
            let extra = params.filter { ["_getpagesoffset", "_count"].contains($0.0) }.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
            let rewritten = HTTPRequestHead(version: head.version, method: .GET,
                                            uri: basePath + "/" + original[..<q] + "?" + original[original.index(after: q)...] + "&" + extra, headers: head.headers)
            try await respond(rewritten, body: body, outbound: outbound, port: port)
        case (.POST, 0):
            try await send(.ok, json: ["resourceType": "Bundle", "type": "batch-response", "entry": []], head: head, outbound: outbound)
        default:
            try await send(.notFound, json: outcome("not-found"), head: head, outbound: outbound)
        }
    }

    private func outcome(_ code: String) -> [String: Any] {
        ["resourceType": "OperationOutcome", "issue": [["severity": "error", "code": code]]]
    }

    private func send(_ status: HTTPResponseStatus, json: [String: Any], head: HTTPRequestHead,
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

    /// NDJSON-looking lines, `total` bytes in all, written in 64 KiB chunks with backpressure.
    private func streamBytes(_ total: Int, head: HTTPRequestHead, outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/fhir+ndjson")
        headers.add(name: "Content-Length", value: String(total))
        try await outbound.write(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers)))
        let line = Array("{\"resourceType\":\"Observation\",\"id\":\"x\",\"status\":\"final\"}\n".utf8)
        var chunk = [UInt8]()
        while chunk.count < 65536 { chunk += line }
        var sent = 0
        while sent < total {
            let n = min(chunk.count, total - sent)
            try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: chunk[0..<n]))))
            sent += n
        }
        try await outbound.write(.end(nil))
    }
}
