import Foundation
import NIOCore
import NIOHTTP1

/// One export the sample upstream is running.
struct SampleExport: Sendable {
    var types: [String]
    var polls = 0
    var cancelled = false
}

/// Bulk Data (Flat FHIR) on the sample upstream, shaped like HAPI behind Inferno's
/// reference server: kick-off → `$export-poll-status?_jobId=` → manifest with files under
/// `$export-files/`. Like HAPI it refuses the short `_outputFormat` aliases (the gateway
/// normalises them), and like a v2 server it adds the Provenance of exported resources.
extension SampleUpstream {
    /// Answers a Bulk request; false when `segments` is not one.
    func respondBulk(_ head: HTTPRequestHead, segments: [String], params: [(String, String)], base: String,
                     outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws -> Bool {
        let isKickoff = segments == ["$export"] || segments == ["Patient", "$export"]
            || (segments.count == 3 && segments[0] == "Group" && segments[2] == "$export")
        if isKickoff {
            try await kickoff(head, segments: segments, params: params, base: base, outbound: outbound)
            return true
        }
        if segments == ["$export-poll-status"] {
            try await status(head, params: params, base: base, outbound: outbound)
            return true
        }
        if segments.count == 3, segments[0] == "$export-files" {
            try await file(head, job: segments[1], name: segments[2], outbound: outbound)
            return true
        }
        return false
    }

    func kickoff(_ head: HTTPRequestHead, segments: [String], params: [(String, String)], base: String,
                 outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws {
        guard head.headers.first(name: "prefer")?.contains("respond-async") == true else {
            try await send(.badRequest, json: outcome("required"), head: head, outbound: outbound)
            return
        }
        if let format = params.first(where: { $0.0 == "_outputFormat" })?.1, format != "application/fhir+ndjson" {
            try await send(.badRequest, json: outcome("not-supported"), head: head, outbound: outbound)
            return
        }
        if segments[0] == "Group", store.withLock({ $0.find("Group", segments[1]) }) == nil {
            try await send(.notFound, json: outcome("not-found"), head: head, outbound: outbound)
            return
        }
        let available = store.withLock { $0.byType.filter { !$0.value.isEmpty }.keys.sorted() }
        var types = params.first { $0.0 == "_type" }.map { $0.1.split(separator: ",").map(String.init) } ?? available
        types = types.filter(available.contains)
        if !types.contains("Provenance"), available.contains("Provenance") { types.append("Provenance") }
        let id = UUID().uuidString.lowercased()
        exports.withLock { $0[id] = SampleExport(types: types) }
        try await send(.accepted, json: outcome("informational"), head: head, outbound: outbound,
                       extraHeaders: [("Content-Location", "\(base)/$export-poll-status?_jobId=\(id)")])
    }

    func status(_ head: HTTPRequestHead, params: [(String, String)], base: String,
                outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws {
        let id = params.first { $0.0 == "_jobId" }?.1 ?? ""
        guard var job = exports.withLock({ $0[id] }), !job.cancelled else {
            try await send(.notFound, json: outcome("not-found"), head: head, outbound: outbound)
            return
        }
        if head.method == .DELETE {
            job.cancelled = true
            exports.withLock { $0[id] = job }
            try await send(.accepted, json: outcome("informational"), head: head, outbound: outbound)
            return
        }
        if job.polls < 1 {
            job.polls += 1
            exports.withLock { $0[id] = job }
            var headers = HTTPHeaders()
            headers.add(name: "X-Progress", value: "exporting: 50%")
            headers.add(name: "Retry-After", value: "1")
            headers.add(name: "Content-Length", value: "0")
            try await outbound.write(.head(HTTPResponseHead(version: head.version, status: .accepted, headers: headers)))
            try await outbound.write(.end(nil))
            return
        }
        var output: [[String: Any]] = job.types.map { t in
            ["type": t, "url": "\(base)/$export-files/\(id)/\(t).ndjson", "count": store.withLock { $0.byType[t]?.count ?? 0 }]
        }
        if bulkExtraBytes.load(ordering: .relaxed) > 0 {
            output.append(["type": "Observation", "url": "\(base)/$export-files/\(id)/generated.ndjson"])
        }
        let manifest: [String: Any] = ["transactionTime": "2026-01-16T10:00:00Z", "request": "\(base)/$export", "requiresAccessToken": true,
                                       "output": output, "error": []]
        try await send(.ok, json: manifest, head: head, outbound: outbound, contentType: "application/json",
                       extraHeaders: [("Expires", "Fri, 01 Jan 2027 00:00:00 GMT")])
    }

    func file(_ head: HTTPRequestHead, job id: String, name: String, outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws {
        guard let job = exports.withLock({ $0[id] }), !job.cancelled else {
            try await send(.notFound, json: outcome("not-found"), head: head, outbound: outbound)
            return
        }
        if name == "generated.ndjson" {
            try await streamBytes(bulkExtraBytes.load(ordering: .relaxed), head: head, outbound: outbound)
            return
        }
        let type = String(name.dropLast(".ndjson".count))
        guard name.hasSuffix(".ndjson"), job.types.contains(type) else {
            try await send(.notFound, json: outcome("not-found"), head: head, outbound: outbound)
            return
        }
        let lines = store.withLock { data in
            (data.byType[type] ?? []).compactMap { try? JSONSerialization.data(withJSONObject: $0.resource, options: [.sortedKeys]) }
        }
        var body = ByteBuffer()
        for line in lines {
            body.writeBytes(line)
            body.writeString("\n")
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/fhir+ndjson")
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        try await outbound.write(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers)))
        if head.method != .HEAD { try await outbound.write(.body(.byteBuffer(body))) }
        try await outbound.write(.end(nil))
    }
}
