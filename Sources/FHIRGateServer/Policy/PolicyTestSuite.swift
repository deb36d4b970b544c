import FHIRGateCore
import Foundation
import Yams

/// A policy's test file (`<policy>.tests.yaml`): requests with token claims and the
/// decision the policy must reach. Ops run them with `fhirgate policy test`; a reload whose
/// policies fail their tests is refused.
public struct PolicyTestSuite: Sendable {
    public struct Case: Sendable {
        public var name: String
        public var line: Int
        public var method: String
        public var target: String
        public var body: [UInt8]?
        public var ifNoneExist: String?
        public var token: AccessToken?
        public var expect: Expectation
    }

    public struct Expectation: Sendable {
        /// `allow`, `narrowed` or `deny` (the audit record's decision word).
        public var decision: String
        public var status: Int?
        public var reason: String?
        public var narrowing: [String]?
        public var responseCheck: Bool?
        public var wouldDeny: [String]?
    }

    public var file: String
    public var policyFile: String
    public var baseURL: String
    public var cases: [Case]

    public static func load(file: String) throws(ConfigErrors) -> PolicyTestSuite {
        let text = try ConfigDiagnostic.readText(file, kind: "policy test file")
        let doc = YAMLDocument(file: file)
        let defaultPolicy = String(file.dropLast(".tests.yaml".count)) + ".yaml"
        var suite = PolicyTestSuite(file: file, policyFile: defaultPolicy, baseURL: "https://fhir.example.org/r4", cases: [])
        guard let root = doc.root(text: text), let top = doc.mapping(root, at: "(top level)", keys: ["policy", "base_url", "cases"]) else {
            throw ConfigErrors(doc.diagnostics.isEmpty ? [ConfigDiagnostic(file: file, line: 1, column: 1, message: "the test file is empty")] : doc.diagnostics)
        }
        if let policy = top.string("policy") { suite.policyFile = doc.resolve(policy) }
        if let base = top.string("base_url") { suite.baseURL = base }
        var names = Set<String>()
        for (i, node) in (top.sequence("cases") ?? []).enumerated() {
            let path = "cases[\(i)]"
            guard let c = doc.mapping(node, at: path, keys: ["name", "request", "body", "if_none_exist", "claims", "expect"]) else { continue }
            let name = c.string("name", required: true, hint: "say what the case shows") ?? path
            if !names.insert(name).inserted { doc.report(c.node("name"), "duplicate case name '\(name)'") }
            guard let request = c.string("request", required: true, hint: "e.g. GET /Observation?patient=pat-a") else { continue }
            let parts = request.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, HTTPMethodName(rawValue: String(parts[0])) != nil else {
                doc.report(c.node("request"), "'\(path).request' must be 'METHOD /path?query'", hint: "e.g. GET /Observation?patient=pat-a")
                continue
            }
            var token: AccessToken?
            if let claims = doc.mapping(c.node("claims"), at: path + ".claims", keys: ["scope", "patient", "client_id", "iss", "sub", "fhirUser"]) {
                var values: [String: Any] = [:]
                for key in ["patient", "client_id", "iss", "sub", "fhirUser"] { values[key] = claims.string(key) }
                if let list = claims.node("scope").flatMap({ if case .sequence = $0 { claims.stringList("scope") } else { nil } }) {
                    values["scope"] = list
                } else {
                    values["scope"] = claims.string("scope", required: true, hint: "the token's scope, e.g. patient/Observation.rs")
                }
                token = PolicyEvaluator.token(claims: values)
            }
            guard let e = doc.mapping(c.node("expect"), at: path + ".expect",
                                      keys: ["decision", "status", "reason", "narrowing", "response_check", "would_deny"]) else {
                if !c.has("expect") { c.missing("expect", hint: "e.g. expect: { decision: deny, status: 403 }") }
                continue
            }
            let decision = e.string("decision", required: true, hint: "allow, narrowed or deny") ?? "deny"
            if !["allow", "narrowed", "deny"].contains(decision) {
                doc.report(e.node("decision"), "'\(path).expect.decision' must be allow, narrowed or deny")
            }
            let expectation = Expectation(decision: decision, status: e.int("status", range: 200...599), reason: e.string("reason"),
                                          narrowing: e.stringList("narrowing"), responseCheck: e.bool("response_check"),
                                          wouldDeny: e.stringList("would_deny"))
            suite.cases.append(Case(name: name, line: (node.mark?.line ?? 0), method: String(parts[0]), target: String(parts[1]),
                                    body: c.string("body").map { Array($0.utf8) }, ifNoneExist: c.string("if_none_exist"), token: token,
                                    expect: expectation))
        }
        guard doc.diagnostics.isEmpty else { throw ConfigErrors(doc.diagnostics) }
        return suite
    }
}

/// Runs policy test suites; every failure says where the case is and what differed.
public enum PolicyTestRunner {
    public struct Result: Sendable {
        public var passed = 0
        public var failures: [ConfigDiagnostic] = []
        public var failed: Int { failures.count }
        public var summary: String { "\(passed) passed, \(failed) failed" }

        public init() {}
    }

    public static func run(_ suite: PolicyTestSuite, policy: PolicyFile) -> Result {
        let evaluator = PolicyEvaluator(policy: policy, baseURL: suite.baseURL)
        var result = Result()
        for c in suite.cases {
            let trace = evaluator.trace(method: c.method, target: c.target, body: c.body, ifNoneExist: c.ifNoneExist, token: c.token)
            let d = trace.decision
            var problems: [String] = []
            if d.auditDecision != c.expect.decision { problems.append("decision \(d.auditDecision), expected \(c.expect.decision)") }
            if let status = c.expect.status, status != trace.status { problems.append("status \(trace.status), expected \(status)") }
            if let reason = c.expect.reason, reason != d.reason { problems.append("reason \(d.reason), expected \(reason)") }
            if let narrowing = c.expect.narrowing {
                let got = d.narrowing.map { "\($0.name)=\($0.value)" }
                if got != narrowing { problems.append("narrowing \(got), expected \(narrowing)") }
            }
            if let check = c.expect.responseCheck, check != (d.responseCheck != nil) {
                problems.append(check ? "no response check, expected one" : "a response check, expected none")
            }
            if let would = c.expect.wouldDeny, would != d.wouldDeny { problems.append("would_deny \(d.wouldDeny), expected \(would)") }
            if problems.isEmpty {
                result.passed += 1
            } else {
                result.failures.append(ConfigDiagnostic(file: suite.file, line: c.line, column: 1,
                                                        message: "policy test '\(c.name)' failed: " + problems.joined(separator: "; "),
                                                        hint: "decision reason: \(d.reason)"))
            }
        }
        return result
    }

    /// The test files under `paths` (files, or folders searched for `*.tests.yaml`).
    public static func testFiles(_ paths: [String]) -> [String] {
        var out: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { out.append(path); continue }
            if isDirectory.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                out += names.filter { $0.hasSuffix(".tests.yaml") }.sorted().map { (path as NSString).appendingPathComponent($0) }
            } else {
                out.append(path)
            }
        }
        return out
    }

    /// Loads the suite and its policy and runs it; load problems are located diagnostics.
    public static func run(file: String) throws(ConfigErrors) -> Result {
        let suite = try PolicyTestSuite.load(file: file)
        let policy = try PolicyFile.load(file: suite.policyFile)
        return run(suite, policy: policy)
    }
}
