import ArgumentParser
import FHIRGateCore
import FHIRGateServer
import Foundation

struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Work with policy files.",
        subcommands: [PolicyTest.self]
    )
}

struct PolicyTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run policy test files (*.tests.yaml): each case's request and claims against its policy."
    )

    @Argument(help: "Test files or folders holding *.tests.yaml (default: Policies).")
    var paths: [String] = []

    func run() throws {
        let files = PolicyTestRunner.testFiles(paths.isEmpty ? ["Policies"] : paths)
        guard !files.isEmpty else {
            FileHandle.standardError.write(Data("no *.tests.yaml files found\n".utf8))
            throw ExitCode(1)
        }
        var total = PolicyTestRunner.Result()
        var broken = 0
        for file in files {
            do {
                let result = try PolicyTestRunner.run(file: file)
                for failure in result.failures { print(failure.description) }
                print("\(file): \(result.summary)")
                total.passed += result.passed
                total.failures += result.failures
            } catch {
                for d in error.diagnostics { print(d.description) }
                print("\(file): could not be run (\(error.diagnostics.count) error(s))")
                broken += 1
            }
        }
        print("\(total.passed) passed, \(total.failed) failed" + (broken > 0 ? ", \(broken) file(s) could not be run" : ""))
        if total.failed > 0 || broken > 0 { throw ExitCode(1) }
    }
}

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show how a route would decide one request: its FHIR reading, the scopes and rules that matched, the decision, narrowing and response checks.",
        discussion: """
        Example:
          fhirgate explain --config Config/fhirgate.yaml --route patient-facing \\
            --claims '{"scope":"patient/Observation.rs","patient":"pat-a","client_id":"app"}' 'GET /Observation?patient=123'
        """
    )

    @Option(name: .long, help: "The config file.")
    var config: String

    @Option(name: .long, help: "The route name.")
    var route: String

    @Option(name: .long, help: "Token claims as JSON: scope, patient, client_id, iss, sub, fhirUser.")
    var claims: String = "{}"

    @Option(name: .long, help: "A request body (for writes, batches, and $docref/$lastn by POST).")
    var body: String?

    @Argument(help: "The request: 'METHOD /path?query' relative to the route's base.")
    var request: String

    func run() throws {
        let (cfg, policies): (GatewayConfig, [String: PolicyFile])
        do {
            (cfg, policies) = try ConfigLoader.load(file: config, requireFiles: false)
        } catch {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            throw ExitCode(1)
        }
        guard let settings = cfg.routes.first(where: { $0.name == route }) else {
            FileHandle.standardError.write(Data("no route named '\(route)' (routes: \(cfg.routes.map(\.name).joined(separator: ", ")))\n".utf8))
            throw ExitCode(1)
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(claims.utf8))) as? [String: Any] else {
            FileHandle.standardError.write(Data("--claims must be a JSON object\n".utf8))
            throw ExitCode(1)
        }
        let parts = request.split(separator: " ", maxSplits: 1)
        guard parts.count == 2 else {
            FileHandle.standardError.write(Data("the request must be 'METHOD /path?query'\n".utf8))
            throw ExitCode(1)
        }
        let policy = settings.policyFile.flatMap { policies[$0] }
        let evaluator = PolicyEvaluator(policy: policy, baseURL: settings.baseURL)
        let token = object.isEmpty ? nil : PolicyEvaluator.token(claims: object)
        let trace = evaluator.trace(method: String(parts[0]), target: String(parts[1]), body: body.map { Array($0.utf8) }, token: token)
        print(ExplainReport(trace: trace, token: token, route: settings.name, policy: policy).text)
    }
}

/// The human-readable account `fhirgate explain` prints.
struct ExplainReport {
    let trace: PolicyEvaluator.Trace
    let token: AccessToken?
    let route: String
    let policy: PolicyFile?

    var text: String {
        var lines: [(String, String)] = []
        lines.append(("route", route + (policy.map { " (policy \($0.name), hash \($0.contentHash))" } ?? " (no policy: scopes alone decide)")))
        if let r = trace.request {
            var reading = r.interaction.rawValue
            if let t = r.resourceType { reading += " " + t }
            if let id = r.id { reading += " id=" + id }
            if let op = r.operation { reading += " $" + op }
            if let c = r.compartment { reading += " in compartment \(c.type ?? "Patient")/\(c.id)" }
            lines.append(("FHIR", reading))
            if !r.parameters.isEmpty { lines.append(("parameters", r.parameters.map { "\($0.rawName)=\($0.value)" }.joined(separator: "&"))) }
        } else {
            lines.append(("FHIR", "not classified"))
        }
        if let token {
            lines.append(("token", "client \(token.clientID ?? "-"), issuer \(token.issuer)" + (token.patient.map { ", patient \($0)" } ?? "")))
            let context = trace.scopeDecision?.context
            let type = trace.request?.resourceType
            let relevant = token.scopes.scopes.filter { s in (context == nil || s.context == context) && (s.resourceType == nil || s.resourceType == type || type == nil) }
            lines.append(("scopes matched", relevant.isEmpty ? "none" : relevant.map(\.description).joined(separator: " ")))
        } else {
            lines.append(("token", "none"))
        }
        if let s = trace.scopeDecision { lines.append(("scope decision", s.auditDecision + " (" + s.reason + ")")) }
        let d = trace.decision
        lines.append(("policy rules matched", d.matchedRules.isEmpty ? "none" : d.matchedRules.joined(separator: ", ")))
        if !d.wouldDeny.isEmpty { lines.append(("would deny (report-only)", d.wouldDeny.joined(separator: ", "))) }
        lines.append(("decision", "\(d.auditDecision) → \(trace.status) (\(d.reason))"))
        if !d.narrowing.isEmpty { lines.append(("narrowing", d.narrowing.map { "\($0.name)=\($0.value)" }.joined(separator: "&"))) }
        if let q = d.upstreamQuery { lines.append(("upstream query", q.map { "\($0.name)=\($0.value)" }.joined(separator: "&"))) }
        if let c = d.responseCheck {
            var parts: [String] = []
            if let p = c.patient { parts.append("in the compartment of Patient/\(p)") }
            for (t, scopes) in c.granular { parts.append("\(t) matches one of \(scopes.map(\.description).joined(separator: " "))") }
            if let types = c.visibleTypes { parts.append("only types \(types.sorted().joined(separator: ", "))") }
            if !c.deniedSecurityLabels.isEmpty { parts.append("withhold labels \(c.deniedSecurityLabels.joined(separator: ", "))") }
            if c.hideWhenEmptied { parts.append("nothing visible → 404") }
            lines.append(("response check", parts.isEmpty ? "yes" : parts.joined(separator: "; ")))
        } else {
            lines.append(("response check", "none (streams)"))
        }
        if d.writePrecheck != nil { lines.append(("write pre-check", "current version must be in the patient's compartment")) }
        let width = lines.map(\.0.count).max() ?? 0
        return lines.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(separator: "\n")
    }
}
