import FuzzSupport
import FHIRGateCore
import Foundation

/// libFuzzer entry: the request-side parsers and decisions must never crash, and what
/// they accept must survive a round trip through the gateway's own re-encoding (the
/// request sent upstream is rebuilt from the parsed form, so a lossy rebuild would be a
/// smuggling bug).
///
/// The first byte picks the target: request line, scope string, Bundle/body, response.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let selector = bytes[0] % 4
    let rest = Array(bytes.dropFirst())
    let text = String(decoding: rest, as: UTF8.self)
    let authorizer = Authorizer(settings: .init(baseURL: "https://gw.example/r4"))
    let token = AccessToken(issuer: "i", subject: "s", clientID: "c",
                            scopes: GrantedScopes("patient/*.rs patient/Observation.cruds user/Patient.rs system/*.read patient/Condition.rs?category=a|b"),
                            patient: "p1", expiresAt: 1e12, tokenHash: "0")
    switch selector {
    case 0:
        // "METHOD target" then optional body after a newline.
        let parts = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        let line = parts[0].split(separator: " ", maxSplits: 1)
        guard line.count == 2, let method = HTTPMethodName(rawValue: String(line[0])) else { return 0 }
        guard let target = try? RequestTarget.parse(String(line[1])) else { return 0 }
        // Re-encoding what was parsed must parse back to the same value.
        let rebuilt = "/" + target.segments.map { PercentEncoding.encode($0, inPath: true) }.joined(separator: "/")
            + (target.query.isEmpty ? "" : "?" + PercentEncoding.query(target.query))
        guard let again = try? RequestTarget.parse(rebuilt), again == target else {
            fatalError("re-encoding changed the request: \(target) vs \(rebuilt)")
        }
        let form = parts.count > 1 ? try? RequestTarget.parseQuery(Array(parts[1].utf8)) : nil
        guard let request = try? RequestClassifier().classify(method: method, segments: target.segments, query: target.query, formBody: form) else { return 0 }
        var decision = authorizer.decide(request, token: token)
        if parts.count > 1 {
            decision = RequestBodyCheck(authorizer: authorizer).check(request, body: Array(parts[1].utf8), token: token, decision: decision)
        }
        // A type's history ignores narrowing upstream: allowed under the pin only with a check.
        if decision.isAllowed, decision.context == .patient, request.interaction == .historyType, decision.responseCheck?.patient != "p1" {
            fatalError("patient type history allowed without a compartment check: \(request)")
        }
        // A search-like operation's body parameters are decided with the query's: a body
        // that names another patient is never allowed under the pin.
        if decision.isAllowed, decision.context == .patient, OperationParameters.bodyCarriesParameters(request), parts.count > 1,
           let body = JSONTree(Array(parts[1].utf8))?.root, let type = request.resourceType,
           let extra = OperationParameters.searchParameters(body, type: type) {
            let binding = PatientCompartment.bindingParameters(for: type)
            for p in extra where binding.contains(p.code) {
                for value in p.orValues where ReferenceValue.parse(value, base: "https://gw.example/r4")?.id != "p1" {
                    fatalError("operation body for another patient allowed: \(p)")
                }
            }
        }
        // A patient-pinned allow of a compartment search must carry the pin.
        if decision.isAllowed, decision.context == .patient, request.interaction == .searchType, let type = request.resourceType,
           PatientCompartment.contains(type: type) {
            guard decision.narrowing.contains(where: { $0.value == "Patient/p1" || $0.value == "p1" }) else {
                fatalError("patient search allowed without narrowing: \(request)")
            }
        }
    case 1:
        let scopes = GrantedScopes(text)
        for s in scopes.scopes where s.permissions.rawValue == 0 { fatalError("scope with no permission: \(s)") }
    case 2:
        let request = FHIRRequest(method: .POST, interaction: .batchOrTransaction)
        _ = RequestBodyCheck(authorizer: authorizer).check(request, body: rest, token: token, decision: .allow("fuzz"))
    default:
        // What the JSON reader accepts must survive being spliced back together.
        if let root = JSONTree(rest)?.root, root.isObject {
            let spliced = JSONBytes.object(root, replacing: [:])
            guard let again = JSONTree(spliced)?.root, Array(again.members).count == Array(root.members).count else {
                fatalError("splicing changed the document")
            }
        }
        let check = ResponseCheck(patient: "p1", granular: ["Condition": GrantedScopes("patient/Condition.rs?category=a|b").scopes])
        _ = ResponseGuard(base: "https://gw.example/r4").check(rest, against: check)
    }
    return 0
}

@_cdecl("FuzzRequest_main")
public func fuzzRequestMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzz(data, size) }
}
