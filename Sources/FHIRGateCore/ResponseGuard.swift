/// Checks what the upstream returned against a `ResponseCheck` before the client sees
/// it. Pure: JSON bytes in, a verdict out. Fails closed: anything it cannot parse is
/// `.unverifiable`, never passed through.
public struct ResponseGuard: Sendable {
    /// Where references in upstream answers may point: the public base, and the
    /// upstream's own for servers that write absolute references.
    public let bases: ReferenceBases
    public var base: String { bases.primary }

    public init(base: String, upstreamBases: [String] = []) {
        bases = ReferenceBases(base, upstream: upstreamBases)
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
    /// `entry.fullUrl` values with `rewriteLink` (nil keeps a value), in one parse. The
    /// answer is rebuilt from slices of the original bytes only when something changed.
    public func process(_ body: [UInt8], check: ResponseCheck?, rewriteLink: ((String, _ isPageLink: Bool) -> String?)?) -> Verdict {
        guard let resource = ResourceInspector.parse(body), let type = resource["resourceType"]?.string else { return .unverifiable }
        if type == "OperationOutcome" { return .pass }
        guard type == "Bundle" else {
            guard let check else { return .pass }
            return isVisible(resource, check) ? .pass : .hide
        }
        var replacing: [String: [UInt8]?] = [:]

        // Links: public URLs instead of the upstream's.
        if let rewriteLink, let links = resource["link"], links.isArray {
            var changed = false
            var out: [ArraySlice<UInt8>] = []
            for link in links.elements {
                if let url = link["url"]?.string, let new = rewriteLink(url, true) {
                    changed = true
                    out.append(JSONBytes.object(link, replacing: ["url": JSONBytes.string(new)])[...])
                } else {
                    out.append(link.rawBytes)
                }
            }
            if changed { replacing["link"] = JSONBytes.array(out) }
        }

        // Entries: kept or removed, fullUrl rewritten.
        let entryValue = resource["entry"]
        if let entryValue, !entryValue.isArray { return .unverifiable }
        let entries = entryValue.map { Array($0.elements) } ?? []
        var keep = [Bool](repeating: true, count: entries.count)
        // A batch or transaction answer keeps one entry per request entry, in order: a
        // withheld read becomes the same not-found entry a missing one gets.
        // (Empty unless this is such an answer under a check: searches allocate nothing for it.)
        var notFound: [Bool] = []
        if let check, let kind = resource["type"], kind.isString("batch-response") || kind.isString("transaction-response") {
            notFound = [Bool](repeating: false, count: entries.count)
            for (i, entry) in entries.enumerated() {
                if let r = entry["resource"], r.isObject {
                    notFound[i] = !isVisible(r, check)
                } else if check.patient != nil, let status = entry["response"]?["status"]?.string, status.hasPrefix("404") || status.hasPrefix("410") {
                    // The upstream's own not-found looks exactly like the gateway's.
                    notFound[i] = true
                }
            }
        } else if let check {
            // Provenance is judged after the rest: `_revinclude=Provenance:target` brings
            // Provenance whose targets are this page's own (already checked) resources.
            var provenance: [Int] = []
            for (i, entry) in entries.enumerated() {
                guard let r = entry["resource"], r.isObject else {
                    // Entries without a resource (deletions in history) reveal only an id.
                    keep[i] = check.patient == nil
                    continue
                }
                if r["resourceType"]?.isString("Provenance") == true {
                    provenance.append(i)
                } else {
                    keep[i] = isVisible(r, check)
                }
            }
            if !provenance.isEmpty {
                var shown = Set<String>()
                for (i, entry) in entries.enumerated() where keep[i] {
                    guard let r = entry["resource"], r.isObject, let t = r["resourceType"]?.string, t != "Provenance",
                          let id = r["id"]?.string else { continue }
                    shown.insert(t + "/" + id)
                }
                for i in provenance {
                    guard let r = entries[i]["resource"] else { continue }
                    keep[i] = isVisible(r, check, inCompartment: check.patient != nil && provenanceTargetsOnly(r, shown))
                }
            }
        }
        let removed = keep.count(where: { !$0 })
        var entriesChanged = removed > 0
        var out: [ArraySlice<UInt8>] = []
        out.reserveCapacity(entries.count)
        for (i, entry) in entries.enumerated() where keep[i] {
            if !notFound.isEmpty, notFound[i] {
                entriesChanged = true
                out.append(Self.notFoundEntry[...])
            } else if let rewriteLink, let url = entry["fullUrl"]?.string, let new = rewriteLink(url, false) {
                entriesChanged = true
                out.append(JSONBytes.object(entry, replacing: ["fullUrl": JSONBytes.string(new)])[...])
            } else {
                out.append(entry.rawBytes)
            }
        }
        // One resource's history with none of it visible looks like a missing resource.
        if let check, check.hideWhenEmptied, !entries.isEmpty, removed == entries.count { return .hide }
        if entriesChanged, entryValue != nil { replacing["entry"] = JSONBytes.array(out) }
        // The upstream counted what it matched, not what this check lets through (data
        // rules it knows nothing of, a narrowing a type's history ignores, later pages
        // never read here): under a check its `total`, or `_summary=count`'s count, would
        // tell how much is withheld, so it is not passed on (as HAPI's consent service does).
        if check != nil, resource["total"] != nil { replacing["total"] = .some(nil) }
        guard !replacing.isEmpty else { return .pass }
        return .replace(JSONBytes.object(resource, replacing: replacing), removed: removed + notFound.count(where: { $0 }))
    }

    /// A batch or transaction answer's entry for a resource that is missing or withheld.
    static let notFoundEntry: [UInt8] = Array(("{\"response\":{\"status\":\"404 Not Found\",\"outcome\":"
        + GatewayError.notFound(reason: "guard_hidden").operationOutcome.json + "}}").utf8)

    /// Whether one resource may be shown under the check. `inCompartment`: the caller knows
    /// it belongs to the patient (a Provenance whose targets are all shown on the page);
    /// the type, label and granular conditions still apply.
    public func isVisible(_ resource: JSONValue, _ check: ResponseCheck, inCompartment: Bool = false) -> Bool {
        guard let type = resource["resourceType"]?.string else { return false }
        if type == "OperationOutcome" { return true }
        if let visible = check.visibleTypes, !visible.contains(type) { return false }
        if let patient = check.patient {
            let member = inCompartment || ResourceInspector.isInCompartment(resource, type: type, patient: patient, bases: bases, followPatientLinks: check.followPatientLinks)
                || ResourceInspector.linksToPatient(resource, type: type, patient: patient, bases: bases)
                || check.readableOutsideCompartment.contains(type)
            guard member else { return false }
        }
        if !check.deniedSecurityLabels.isEmpty, Self.hasLabel(resource, check.deniedSecurityLabels) { return false }
        if let granted = check.granular[type] {
            guard granted.contains(where: { ResourceInspector.matches(resource, scope: $0) }) else { return false }
        }
        return true
    }

    /// Whether `meta.security` carries any of `labels` (`system|code`).
    public static func hasLabel(_ resource: JSONValue, _ labels: [String]) -> Bool {
        guard let security = resource["meta"]?["security"], security.isArray else { return false }
        return security.elements.contains { coding in labels.contains { ResourceInspector.tokenMatches(coding, $0) } }
    }

    /// How many resources of a response carry any of `labels` (report-only data rules).
    public func countLabeled(_ body: [UInt8], labels: [String]) -> Int {
        guard let root = ResourceInspector.parse(body) else { return 0 }
        if root["resourceType"]?.isString("Bundle") == true {
            return (root["entry"]?.elements.map { $0 } ?? []).count { entry in
                entry["resource"].map { Self.hasLabel($0, labels) } ?? false
            }
        }
        return Self.hasLabel(root, labels) ? 1 : 0
    }

    /// A Provenance all of whose targets are resources already shown on this page.
    func provenanceTargetsOnly(_ resource: JSONValue, _ shown: Set<String>) -> Bool {
        guard let targets = resource["target"], targets.isArray, !targets.elements.isEmpty else { return false }
        return targets.elements.allSatisfy { t in
            guard let ref = t["reference"]?.string, let parsed = ReferenceValue.parse(ref, bases: bases), let type = parsed.type else { return false }
            return shown.contains(type + "/" + parsed.id)
        }
    }
}
