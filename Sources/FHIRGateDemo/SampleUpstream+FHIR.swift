import Foundation
import NIOCore
import NIOHTTP1

/// The FHIR side of the sample upstream: a deliberately naive server (it answers what
/// it is asked, for any patient) so that everything the gateway must filter shows up.
extension SampleUpstream {
    /// `_elements` as HAPI applies it: the listed top-level elements, plus id and meta.
    static func subset(_ resource: [String: Any], _ list: String) -> [String: Any] {
        let keep = Set(list.split(separator: ",").map(String.init)).union(["resourceType", "id", "meta"])
        return resource.filter { keep.contains($0.key) }
    }

    func respond(_ head: HTTPRequestHead, body: ByteBuffer, outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>, port: Int) async throws {
        var path = String(head.uri.prefix { $0 != "?" })
        let query = head.uri.firstIndex(of: "?").map { String(head.uri[head.uri.index(after: $0)...]) } ?? ""
        if path.hasPrefix(basePath) { path.removeFirst(basePath.count) }
        let segments = path.split(separator: "/").map { String($0).removingPercentEncoding ?? String($0) }
        var params = query.split(separator: "&").map { pair -> (String, String) in
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (s: Substring) in s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(s) }
            return (decode(kv[0]), kv.count > 1 ? decode(kv[1]) : "")
        }
        let base = advertisedBase ?? "http://127.0.0.1:\(port)\(basePath)"

        // Test behaviours behind ordinary FHIR paths, so they pass the gateway's
        // classifier: Binary/bytes-N streams N bytes, Binary/slow-MS answers after MS
        // milliseconds, Binary/hang never answers, Binary/echo describes the request,
        // <Type>/fail-CODE (below) fails with CODE and an exception's text.
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
        }
        // Any type: `<Type>/fail-CODE` fails with CODE and an exception's text.
        if segments.count == 2, head.method == .GET || head.method == .HEAD {
            let id = segments[1]
            if id.hasPrefix("fail-"), let code = Int(id.dropFirst(5)), (400..<600).contains(code) {
                // What a failing EHR sends: its exception, its internals.
                try await send(HTTPResponseStatus(statusCode: code),
                               json: ["resourceType": "OperationOutcome", "issue": [["severity": "fatal", "code": "exception",
                                      "diagnostics": "java.lang.NullPointerException at org.ehr.internal.DbPool.get(DbPool.java:42) host=db-7.ehr.internal"]]],
                               head: head, outbound: outbound, extraHeaders: code == 503 ? [("Retry-After", "30")] : [])
                return
            }
            if id == "echo", segments[0] == "Binary" {
                var headers: [String: String] = [:]
                for (n, v) in head.headers { headers[n.lowercased()] = headers[n.lowercased()].map { $0 + ", " + v } ?? v }
                try await send(.ok, json: ["resourceType": "Binary", "id": "echo", "method": head.method.rawValue, "uri": head.uri, "headers": headers],
                               head: head, outbound: outbound, extraHeaders: [("Connection", "X-Upstream-Hop"), ("X-Upstream-Hop", "1"), ("Proxy-Authenticate", "Basic"),
                                                                ("Server", "EHR/9.1 (Linux)"), ("X-Powered-By", "HAPI FHIR 6.0.0 REST Server")])
                return
            }
        }

        if try await respondBulk(head, segments: segments, params: params, base: base, outbound: outbound) { return }

        switch (head.method, segments.count) {
        case (.GET, 1) where segments[0] == "metadata":
            try await send(.ok, json: ["resourceType": "CapabilityStatement", "status": "active", "kind": "instance", "fhirVersion": "4.0.1",
                                       "format": ["json"], "date": "2026-01-01"], head: head, outbound: outbound)
        case (.GET, 2) where segments == [".well-known", "smart-configuration"]:
            try await send(.ok, json: ["capabilities": ["launch-standalone", "client-public", "permission-v2", "permission-v1"]],
                           head: head, outbound: outbound, contentType: "application/json")
        case (.GET, 2) where segments[1] == "_history":
            // A type's history, as FHIR defines it: search parameters are not applied.
            let all = store.withLock { $0.byType[segments[0]] ?? [] }
            let entries: [[String: Any]] = all.map { r in
                ["fullUrl": "\(base)/\(segments[0])/\(r.id)", "resource": r.resource,
                 "request": ["method": "PUT", "url": "\(segments[0])/\(r.id)"], "response": ["status": "200"]]
            }
            try await send(.ok, json: ["resourceType": "Bundle", "type": "history", "total": entries.count, "entry": entries,
                                       "link": [["relation": "self", "url": "\(base)/\(segments[0])/_history"]]],
                           head: head, outbound: outbound)
        case (.GET, 2), (.HEAD, 2):
            if let r = store.withLock({ $0.find(segments[0], segments[1]) }) {
                if head.headers.first(name: "if-none-match") == Self.etag(r) {
                    var headers = HTTPHeaders()
                    headers.add(name: "ETag", value: Self.etag(r))
                    try await outbound.write(.head(HTTPResponseHead(version: head.version, status: .notModified, headers: headers)))
                    try await outbound.write(.end(nil))
                    return
                }
                var shown = params.first { $0.0 == "_elements" }.map { Self.subset(r, $0.1) } ?? r
                if params.contains(where: { $0 == ("_summary", "text") }) { shown = Self.subset(r, "text,status") }
                try await send(.ok, json: shown, head: head, outbound: outbound, extraHeaders: [("ETag", Self.etag(r))])
            } else {
                try await send(.notFound, json: outcome("not-found"), head: head, outbound: outbound)
            }
        case (.GET, 4) where segments[2] == "_history":
            let versions = store.withLock { $0.versions(segments[0], segments[1]) }
            if let r = versions.first(where: { ($0["meta"] as? [String: Any])?["versionId"] as? String == segments[3] }) {
                try await send(.ok, json: r, head: head, outbound: outbound, extraHeaders: [("ETag", Self.etag(r))])
            } else {
                try await send(.notFound, json: outcome("not-found"), head: head, outbound: outbound)
            }
        case (.GET, 3) where segments[2] == "_history":
            let versions = store.withLock { $0.versions(segments[0], segments[1]) }
            guard !versions.isEmpty else {
                try await send(.notFound, json: outcome("not-found"), head: head, outbound: outbound)
                return
            }
            let entries: [[String: Any]] = versions.map { r in
                let v = (r["meta"] as? [String: Any])?["versionId"] as? String ?? "1"
                return ["fullUrl": "\(base)/\(segments[0])/\(segments[1])/_history/\(v)", "resource": r,
                        "request": ["method": "PUT", "url": "\(segments[0])/\(segments[1])"], "response": ["status": "200"]]
            }
            try await send(.ok, json: ["resourceType": "Bundle", "type": "history", "total": entries.count, "entry": entries,
                                       "link": [["relation": "self", "url": "\(base)/\(segments[0])/\(segments[1])/_history"]]],
                           head: head, outbound: outbound)
        case (.GET, 3) where segments[0] == "Patient" && segments[2] == "$everything":
            let found = store.withLock { $0.everything(segments[1]) }
            guard !found.isEmpty else {
                try await send(.notFound, json: outcome("not-found"), head: head, outbound: outbound)
                return
            }
            let entries: [[String: Any]] = found.map {
                ["fullUrl": "\(base)/\($0["resourceType"] as? String ?? "")/\($0["id"] as? String ?? "")", "resource": $0]
            }
            try await send(.ok, json: ["resourceType": "Bundle", "type": "searchset", "total": entries.count, "entry": entries,
                                       "link": [["relation": "self", "url": "\(base)/Patient/\(segments[1])/$everything"]]],
                           head: head, outbound: outbound)
        case (.PUT, 2), (.PATCH, 2), (.DELETE, 2):
            try await write(head, type: segments[0], id: segments[1], body: body, outbound: outbound)
        case (.GET, 1) where segments[0] != "metadata", (.POST, 2) where segments[1] == "_search":
            if head.method == .POST {
                params += String(buffer: body).split(separator: "&").map {
                    let kv = $0.split(separator: "=", maxSplits: 1)
                    return (String(kv[0]).removingPercentEncoding ?? "", kv.count > 1 ? (String(kv[1]).removingPercentEncoding ?? "") : "")
                }
            }
            let type = segments[0]
            let matches = store.withLock { $0.search(type, params) }
            // HAPI-style paging: `_count` matches a page, `next` is `[base]?_getpages=<id>&_getpagesoffset=N`;
            // `_revinclude=Provenance:target` brings, on each page, the Provenance of that page's matches.
            let count = params.first { $0.0 == "_count" }.flatMap { Int($0.1) } ?? 50
            let offset = params.first { $0.0 == "_getpagesoffset" }.flatMap { Int($0.1) } ?? 0
            let pageMatches = Array(matches.dropFirst(offset).prefix(count))
            let elements = params.first { $0.0 == "_elements" }?.1
            var page: [[String: Any]] = pageMatches.map { r in elements.map { Self.subset(r, $0) } ?? r }.map { ["fullUrl": "\(base)/\(type)/\($0["id"] as? String ?? "")", "resource": $0, "search": ["mode": "match"]] }
            if params.contains(where: { $0.0 == "_revinclude" && $0.1 == "Provenance:target" }) {
                let ids = Set(pageMatches.map { "\(type)/\($0["id"] as? String ?? "")" })
                for p in store.withLock({ $0.byType["Provenance"] ?? [] }) {
                    let targets = (p.resource["target"] as? [[String: Any]] ?? []).compactMap { $0["reference"] as? String }
                    if targets.contains(where: ids.contains) {
                        page.append(["fullUrl": "\(base)/Provenance/\(p.id)", "resource": p.resource, "search": ["mode": "include"]])
                    }
                }
            }
            var links: [[String: Any]] = [["relation": "self", "url": "\(base)/\(type)?\(query)"]]
            if offset + count < matches.count {
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
            // Batch reads answered entry by entry, in order (other entries: not supported here).
            let request = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any]
            let kind = (request?["type"] as? String) == "transaction" ? "transaction-response" : "batch-response"
            let entries: [[String: Any]] = (request?["entry"] as? [[String: Any]] ?? []).map { entry in
                let req = entry["request"] as? [String: Any]
                let parts = (req?["url"] as? String ?? "").split(separator: "/").map(String.init)
                if req?["method"] as? String == "GET", parts.count == 2, let r = store.withLock({ $0.find(parts[0], parts[1]) }) {
                    return ["resource": r, "response": ["status": "200 OK", "etag": Self.etag(r)]]
                }
                return ["response": ["status": "404 Not Found", "outcome": outcome("not-found")]]
            }
            try await send(.ok, json: ["resourceType": "Bundle", "type": kind, "entry": entries], head: head, outbound: outbound)
        default:
            try await send(.notFound, json: outcome("not-found"), head: head, outbound: outbound)
        }
    }


    /// Update (as create too), JSON Patch and delete, honouring `If-Match` and
    /// `Prefer: return=minimal`.
    func write(_ head: HTTPRequestHead, type: String, id: String, body: ByteBuffer,
               outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws {
        let current = store.withLock { $0.find(type, id) }
        if let wanted = head.headers.first(name: "if-match"), wanted != current.map(Self.etag) {
            try await send(.preconditionFailed, json: outcome("conflict"), head: head, outbound: outbound)
            return
        }
        let minimal = head.headers.first(name: "prefer")?.contains("return=minimal") == true
        switch head.method {
        case .DELETE:
            let existed = store.withLock { $0.delete(type, id) }
            try await send(existed ? .ok : .notFound, json: outcome(existed ? "informational" : "not-found"), head: head, outbound: outbound)
            return
        case .PATCH:
            guard let current else {
                try await send(.notFound, json: outcome("not-found"), head: head, outbound: outbound)
                return
            }
            guard let ops = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [[String: Any]],
                  let patched = Self.applyJSONPatch(ops, to: current) as? [String: Any] else {
                try await send(.badRequest, json: outcome("invalid"), head: head, outbound: outbound)
                return
            }
            let stored = store.withLock { UncheckedJSON($0.put(patched, type: type, id: id)) }.value
            try await sendWritten(.ok, stored, minimal: minimal, head: head, outbound: outbound)
        default:
            guard let resource = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any],
                  resource["resourceType"] as? String == type else {
                try await send(.badRequest, json: outcome("invalid"), head: head, outbound: outbound)
                return
            }
            let stored = store.withLock { UncheckedJSON($0.put(resource, type: type, id: id)) }.value
            try await sendWritten(current == nil ? .created : .ok, stored, minimal: minimal, head: head, outbound: outbound)
        }
    }

    func sendWritten(_ status: HTTPResponseStatus, _ resource: [String: Any], minimal: Bool, head: HTTPRequestHead,
                     outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws {
        let version = (resource["meta"] as? [String: Any])?["versionId"] as? String ?? "1"
        let location = "\(basePath)/\(resource["resourceType"] as? String ?? "")/\(resource["id"] as? String ?? "")/_history/\(version)"
        if minimal {
            var headers = HTTPHeaders()
            headers.add(name: "Content-Length", value: "0")
            headers.add(name: "ETag", value: Self.etag(resource))
            try await outbound.write(.head(HTTPResponseHead(version: head.version, status: status, headers: headers)))
            try await outbound.write(.end(nil))
            return
        }
        try await send(status, json: resource, head: head, outbound: outbound,
                       extraHeaders: [("ETag", Self.etag(resource)), ("Location", "http://\(head.headers.first(name: "host") ?? "127.0.0.1")\(location)")])
    }

    static func etag(_ resource: [String: Any]) -> String {
        "W/\"\((resource["meta"] as? [String: Any])?["versionId"] as? String ?? "1")\""
    }

    /// RFC 6902 add/replace/remove/test on JSON Pointer paths (enough for the tests).
    static func applyJSONPatch(_ ops: [[String: Any]], to document: Any) -> Any? {
        var doc = document
        for op in ops {
            guard let name = op["op"] as? String, let path = op["path"] as? String else { return nil }
            let tokens = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
                .map { $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~") }
            switch name {
            case "add", "replace": guard let v = op["value"], let d = set(doc, tokens[...], v, insert: name == "add") else { return nil }; doc = d
            case "remove": guard let d = set(doc, tokens[...], nil, insert: false) else { return nil }; doc = d
            case "test": continue
            default: return nil
            }
        }
        return doc
    }

    static func set(_ node: Any, _ path: ArraySlice<String>, _ value: Any?, insert: Bool) -> Any? {
        guard let key = path.first else { return value }
        if var dict = node as? [String: Any] {
            if path.count == 1 { dict[key] = value; return dict }
            guard let child = dict[key], let updated = set(child, path.dropFirst(), value, insert: insert) else { return nil }
            dict[key] = updated
            return dict
        }
        if var array = node as? [Any] {
            if path.count == 1 {
                if key == "-", let value { array.append(value); return array }
                guard let i = Int(key), i >= 0, i <= array.count else { return nil }
                if let value { if insert { array.insert(value, at: i) } else if i < array.count { array[i] = value } else { return nil } }
                else if i < array.count { array.remove(at: i) } else { return nil }
                return array
            }
            guard let i = Int(key), i >= 0, i < array.count, let updated = set(array[i], path.dropFirst(), value, insert: insert) else { return nil }
            array[i] = updated
            return array
        }
        return nil
    }
}

/// Parsed JSON leaving the store's lock (owned by one request from then on).
struct UncheckedJSON: @unchecked Sendable {
    let value: [String: Any]
    init(_ value: [String: Any]) { self.value = value }
}
