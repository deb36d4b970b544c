/// Rewrites a completed export's manifest for the client: every `output`, `error` and
/// `deleted` URL becomes a gateway file URL of the job, `request` the public kick-off URL,
/// `requiresAccessToken` true; files of types the job may not hold are dropped and named
/// in an `error` entry the gateway serves itself. Fails closed (nil) on a manifest it
/// cannot read or a file URL outside the upstream.
public enum BulkManifest {
    /// `internalURL` maps a URL the upstream advertised to the one the gateway reaches it by.
    public static func rewrite(_ body: [UInt8], job: inout BulkExportJob, publicBase: String, upstreamBase: String,
                               internalURL: (String) -> String = { $0 }) -> [UInt8]? {
        guard let root = JSONTree(body)?.root, root.isObject, let output = root["output"], output.isArray else { return nil }
        var files: [String] = []
        var withheld: [String] = []
        func fileURL(_ n: Int) -> String { publicBase + "/" + BulkExportJob.fileSegment + "/" + job.id + "/" + String(n) }

        func rewriteList(_ list: JSONValue?, filterTypes: Bool) -> [UInt8]?? {
            guard let list else { return .some(nil) }
            guard list.isArray else { return nil }
            var items: [ArraySlice<UInt8>] = []
            for item in list.elements {
                guard item.isObject, let advertised = item["url"]?.string, let type = item["type"]?.string else { return nil }
                let url = internalURL(advertised)
                guard url.hasPrefix(upstreamBase + "/") || url.hasPrefix(upstreamBase + "?") else { return nil }
                if filterTypes, let allowed = job.types, !allowed.contains(type) {
                    if !withheld.contains(type) { withheld.append(type) }
                    continue
                }
                files.append(url)
                items.append(JSONBytes.object(item, replacing: ["url": JSONBytes.string(fileURL(files.count - 1))])[...])
            }
            return .some(JSONBytes.array(items))
        }

        guard let newOutput = rewriteList(output, filterTypes: true), let newDeleted = rewriteList(root["deleted"], filterTypes: true),
              let errorList = rewriteList(root["error"], filterTypes: false) else { return nil }
        var newError = errorList ?? JSONBytes.array([])
        if !withheld.isEmpty {
            // The note about withheld types is one more error file, served by the gateway.
            var items = JSONTree(newError)?.root.elements.map(\.rawBytes) ?? []
            let note = #"{"type":"OperationOutcome","url":"# + String(decoding: JSONBytes.string(
                publicBase + "/" + BulkExportJob.fileSegment + "/" + job.id + "/" + BulkExportJob.withheldFile), as: UTF8.self) + "}"
            items.append(Array(note.utf8)[...])
            newError = JSONBytes.array(items)
        }
        var replacing: [String: [UInt8]?] = [
            "output": newOutput,
            "error": newError,
            "request": JSONBytes.string(job.kickoffURL),
            "requiresAccessToken": Array("true".utf8),
        ]
        if root["deleted"] != nil { replacing["deleted"] = newDeleted }
        var out = JSONBytes.object(root, replacing: replacing)
        // Members the upstream left out are required by the spec: add them.
        if root["error"] == nil || root["request"] == nil || root["requiresAccessToken"] == nil {
            var extra: [UInt8] = []
            if root["error"] == nil { extra += Array(#","error":"#.utf8) + newError }
            if root["request"] == nil { extra += Array(#","request":"#.utf8) + JSONBytes.string(job.kickoffURL) }
            if root["requiresAccessToken"] == nil { extra += Array(#","requiresAccessToken":true"#.utf8) }
            out.removeLast()
            out += extra
            out.append(0x7D)
        }
        job.files = files
        job.withheld = withheld
        return out
    }

    /// The NDJSON the gateway serves for `withheld`: one OperationOutcome line.
    public static func withheldNote(_ types: [String]) -> [UInt8] {
        let text = "Resources of type " + types.joined(separator: ", ") + " were withheld: the access token does not cover them."
        return Array((#"{"resourceType":"OperationOutcome","issue":[{"severity":"warning","code":"forbidden","diagnostics":"#
            + String(decoding: JSONBytes.string(text), as: UTF8.self) + "}]}\n").utf8)
    }
}
