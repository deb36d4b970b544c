import FuzzSupport
import FHIRGateCore
import FHIRGateServer
import Foundation

/// libFuzzer entry: the policy loader must never crash on any text, and a policy it
/// accepts must evaluate requests without crashing and without allowing what the scopes
/// refused.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let policy = try? PolicyFile.parse(text: text, file: "fuzz.yaml") else { return 0 }
    let evaluator = PolicyEvaluator(policy: policy, baseURL: "https://gw.example/r4")
    let scopeOnly = PolicyEvaluator(policy: nil, baseURL: "https://gw.example/r4")
    for (scope, patient) in [("patient/*.rs", "p1"), ("user/Observation.rs", nil), ("system/*.read", nil)] as [(String, String?)] {
        let token = PolicyEvaluator.token(claims: ["scope": scope, "patient": patient as Any, "client_id": "app"])
        for target in ["/Observation?patient=p1&code=x", "/Patient/p1", "/Condition/c1/_history", "/$export?_type=Patient", "/Patient/p1/$everything"] {
            let withPolicy = evaluator.trace(method: "GET", target: target, token: token).decision
            let without = scopeOnly.trace(method: "GET", target: target, token: token).decision
            if withPolicy.isAllowed && !without.isAllowed {
                fatalError("policy allowed what the scopes refused: \(target) \(scope)")
            }
        }
    }
    return 0
}

@_cdecl("FuzzPolicy_main")
public func fuzzPolicyMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzz(data, size) }
}
