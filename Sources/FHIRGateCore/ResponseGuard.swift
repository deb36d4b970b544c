import Foundation

/// Checks what the upstream returned against a `ResponseCheck` before the client sees
/// it. Pure: JSON bytes in, a verdict out. Fails closed: anything it cannot parse is
/// `.unverifiable`, never passed through.
public struct ResponseGuard: Sendable {
    public let base: String

    public init(base: String) {
        self.base = base
    }

    public enum Verdict: Sendable, Equatable {
        /// Pass the original bytes unchanged.
        case pass
        /// Send these bytes instead (entries were removed from a Bundle).
        case replace([UInt8], removed: Int)
        /// Hide the resource: the client gets the same 404 a missing one gets.
        case hide
        /// Not JSON, or not a FHIR resource: refuse with 502.
        case unverifiable
    }

    public func check(_ body: [UInt8], against check: ResponseCheck) -> Verdict {
        process(body, check: check, rewriteLink: nil)
    }

    /// Checks (when `check` is given) and rewrites a Bundle's `link.url` and
    /// `entry.fullUrl` values with `rewriteLink` (nil keeps a value), in one parse.
    public func process(_ body: [UInt8], check: ResponseCheck?, rewriteLink: ((String, _ isPageLink: Bool) -> String?)?) -> Verdict {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)),
              var resource = object as? ResourceInspector.JSONObject,
              let type = resource["resourceType"] as? String else { return .unverifiable }
        if type == "OperationOutcome" { return .pass }
        var rewritten = 0
        if type == "Bundle", let rewriteLink {
            if let links = resource["link"] as? [ResourceInspector.JSONObject] {
                resource["link"] = links.map { link in
                    guard let url = link["url"] as? String, let new = rewriteLink(url, true) else { return link }
                    rewritten += 1
                    var l = link
                    l["url"] = new
                    return l
                }
            }
            if let entries = resource["entry"] as? [ResourceInspector.JSONObject] {
                resource["entry"] = entries.map { entry in
                    guard let url = entry["fullUrl"] as? String, let new = rewriteLink(url, false) else { return entry }
                    rewritten += 1
                    var e = entry
                    e["fullUrl"] = new
                    return e
                }
            }
        }
        guard let check else {
            guard rewritten > 0, let data = try? JSONSerialization.data(withJSONObject: resource, options: [.withoutEscapingSlashes]) else { return .pass }
            return .replace(Array(data), removed: 0)
        }
        if type == "Bundle" {
            guard var entries = resource["entry"] as? [Any] ?? (resource["entry"] == nil ? [] : nil) else { return .unverifiable }
            let before = entries.count
            // Provenance is judged after the rest: `_revinclude=Provenance:target` brings
            // Provenance whose targets are this page's own (already checked) resources.
            var kept = Set<String>()
            var keep = [Bool](repeating: false, count: entries.count)
            for pass in 0..<2 {
                for (i, entry) in entries.enumerated() {
                    guard let r = (entry as? ResourceInspector.JSONObject)?["resource"] as? ResourceInspector.JSONObject else {
                        // Entries without a resource (deletions in history) reveal only an id.
                        keep[i] = pass == 0 && check.patient == nil
                        continue
                    }
                    let isProvenance = r["resourceType"] as? String == "Provenance"
                    guard isProvenance == (pass == 1) else { continue }
                    keep[i] = isVisible(r, check) || (isProvenance && check.patient != nil && provenanceTargetsOnly(r, kept))
                    if keep[i], pass == 0, let t = r["resourceType"] as? String, let id = r["id"] as? String { kept.insert(t + "/" + id) }
                }
            }
            entries = zip(entries, keep).filter(\.1).map(\.0)
            if entries.count == before && rewritten == 0 { return .pass }
            var copy = resource
            copy["entry"] = entries
            if entries.count != before { copy.removeValue(forKey: "total") }
            guard let data = try? JSONSerialization.data(withJSONObject: copy, options: [.withoutEscapingSlashes]) else { return .unverifiable }
            return .replace(Array(data), removed: before - entries.count)
        }
        return isVisible(resource, check) ? .pass : .hide
    }

    /// Whether one resource may be shown under the check.
    public func isVisible(_ resource: ResourceInspector.JSONObject, _ check: ResponseCheck) -> Bool {
        guard let type = resource["resourceType"] as? String else { return false }
        if type == "OperationOutcome" { return true }
        if let visible = check.visibleTypes, !visible.contains(type) { return false }
        if let patient = check.patient {
            let member = ResourceInspector.isInCompartment(resource, patient: patient, base: base)
                || ResourceInspector.linksToPatient(resource, patient: patient, base: base)
                || check.readableOutsideCompartment.contains(type)
            guard member else { return false }
        }
        if let granted = check.granular[type] {
            guard granted.contains(where: { ResourceInspector.matches(resource, scope: $0) }) else { return false }
        }
        return true
    }

    /// A Provenance all of whose targets are resources already shown on this page.
    func provenanceTargetsOnly(_ resource: ResourceInspector.JSONObject, _ shown: Set<String>) -> Bool {
        guard let targets = resource["target"] as? [Any], !targets.isEmpty else { return false }
        return targets.allSatisfy { t in
            guard let ref = (t as? ResourceInspector.JSONObject)?["reference"] as? String,
                  let parsed = ReferenceValue.parse(ref, base: base), let type = parsed.type else { return false }
            return shown.contains(type + "/" + parsed.id)
        }
    }
}
