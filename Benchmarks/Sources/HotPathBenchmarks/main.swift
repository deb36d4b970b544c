import FHIRGateAudit
import FHIRGateAuth
import FHIRGateCore
import FHIRGateDemo
import FHIRGateRedis
import Foundation
import NIOPosix
import Crypto
import _CryptoExtras

// MARK: - Classification and decision (a typical US Core patient-app search)

let target = "/r4/Observation?patient=Patient/pat-a&category=http%3A%2F%2Fterminology.hl7.org%2FCodeSystem%2Fobservation-category%7Claboratory&date=ge2024-01-01&_count=50&_revinclude=Provenance:target"
let authorizer = Authorizer(settings: .init(baseURL: "https://fhir.example.org/r4"))
let classifier = RequestClassifier()
let token = AccessToken(issuer: "https://as.example", subject: "u", clientID: "app",
                        scopes: GrantedScopes("launch/patient openid fhirUser patient/Patient.rs patient/Observation.rs patient/Condition.rs patient/Provenance.rs patient/Encounter.rs"),
                        patient: "pat-a", expiresAt: 1e12, tokenHash: "0")
let granularToken = AccessToken(issuer: "https://as.example", subject: "u", clientID: "app",
                                scopes: GrantedScopes("patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory patient/Provenance.rs"),
                                patient: "pat-a", expiresAt: 1e12, tokenHash: "0")

func classifyAndDecide(_ token: AccessToken) {
    let parsed = try! RequestTarget.parse(target)
    let request = try! classifier.classify(method: .GET, segments: Array(parsed.segments.dropFirst()), query: parsed.query)
    blackHole(authorizer.decide(request, token: token))
}

let only = CommandLine.arguments.dropFirst().first
var results: [Measurement] = []
var auditLines: [String] = []
if only == nil || only == "decide" {
    results.append(measure("target parse (typical search)") { blackHole(try! RequestTarget.parse(target)) })
    let parsed = try! RequestTarget.parse(target)
    results.append(measure("classify (typical search)") {
        blackHole(try! classifier.classify(method: .GET, segments: Array(parsed.segments.dropFirst()), query: parsed.query))
    })
    let request = try! classifier.classify(method: .GET, segments: Array(parsed.segments.dropFirst()), query: parsed.query)
    results.append(measure("decide (patient scope, narrowing)") { blackHole(authorizer.decide(request, token: token)) })
    results.append(measure("parse + classify + decide") { classifyAndDecide(token) })
    results.append(measure("parse + classify + decide (granular)") { classifyAndDecide(granularToken) })
    results.append(measure("scope string parse (8 scopes)") {
        blackHole(GrantedScopes("launch/patient openid fhirUser patient/Patient.rs patient/Observation.rs patient/Condition.rs patient/Provenance.rs patient/Encounter.rs"))
    })
    // Policy evaluation: a few rules, then the same with 1,000 rules about other types
    // (the type index keeps the cost flat).
    let parsedSearch = try! RequestTarget.parse(target)
    let searchRequest = try! classifier.classify(method: .GET, segments: Array(parsedSearch.segments.dropFirst()), query: parsedSearch.query)
    let scopeDecision = authorizer.decide(searchRequest, token: token)
    func policy(extra: Int) -> PolicyEngine {
        var p = Policy(name: "bench")
        var exposure = Policy.Exposure()
        exposure.types["Observation"] = ["read", "search-type"]
        exposure.types["Condition"] = ["read", "search-type"]
        p.exposure = exposure
        var surface = Policy.SearchSurface()
        surface.parameters["Observation"] = ["patient", "category", "code", "date", "status"]
        surface.revincludes["Observation"] = ["Provenance:target"]
        surface.common = ["_id", "_count", "_lastUpdated"]
        p.search = surface
        var rules = [PolicyRule(id: "reads", contexts: [.patient], codes: ["read", "search-type"], effect: .allow),
                     PolicyRule(id: "retired", clients: ["retired-app"], effect: .deny)]
        rules += (0..<extra).map { PolicyRule(id: "other-\($0)", clients: ["c\($0)"], types: ["Condition"], effect: .deny) }
        p.rules = PolicyRuleSet(rules: rules)
        return PolicyEngine(policy: p)
    }
    let small = policy(extra: 0)
    let large = policy(extra: 1000)
    results.append(measure("policy evaluate (2 rules)") { blackHole(small.evaluate(searchRequest, token: token, decision: scopeDecision)) })
    results.append(measure("policy evaluate (+1,000 rules on other types)") { blackHole(large.evaluate(searchRequest, token: token, decision: scopeDecision)) })
    let limiter = LocalRateLimiter()
    let specs = [RateLimitSpec(name: "client", key: "a", ratePerSecond: 1e9, burst: 1_000_000), RateLimitSpec(name: "patient", key: "p", ratePerSecond: 1e9, burst: 1_000_000)]
    results.append(measure("in-process limiter (2 limits)") { blackHole(limiter.check(specs, cost: 1, nowMilliseconds: Date().timeIntervalSince1970 * 1000)) })
}

// MARK: - Token verification (cold: a new token each time; cached: the same token)

if only == nil || only == "token" {
    let directory = NSTemporaryDirectory() + "fhirgate-bench-\(getpid())"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let key = DevSigningKey()
    try key.jwksJSON.write(toFile: directory + "/jwks.json", atomically: true, encoding: .utf8)
    let verifier = TokenVerifier(issuers: [IssuerSettings(issuer: "https://as.example", keySource: .jwksFile(directory + "/jwks.json"))],
                                 httpClient: nil, cacheCapacity: 1_000_000)
    await verifier.loadKeys()
    let aud = "https://fhir.example.org/r4"
    var fresh: [String] = []
    for _ in 0..<20_000 { fresh.append(try key.accessToken(issuer: "https://as.example", audience: aud, scope: "patient/*.rs", patient: "p")) }
    let esCycle = Cycle(fresh.count)
    let esTokens = fresh
    results.append(await measureAsync("verify ES256, cold (signature + claims)") {
        blackHole(try? await verifier.verify(esTokens[esCycle.next()], audience: aud))
    })
    // RS256: a 2048-bit RSA key, the most common EHR authorization-server key.
    let rsa = try _RSA.Signing.PrivateKey(keySize: .bits2048)
    let primitives = try rsa.publicKey.getKeyPrimitives()
    func b64(_ d: some DataProtocol) -> String { DevSigningKey.base64url(d) }
    let rsaJWKS = "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"rsa-1\",\"alg\":\"RS256\",\"use\":\"sig\",\"n\":\"\(b64(primitives.modulus))\",\"e\":\"\(b64(primitives.publicExponent))\"}]}"
    try rsaJWKS.write(toFile: directory + "/rsa-jwks.json", atomically: true, encoding: .utf8)
    let rsaVerifier = TokenVerifier(issuers: [IssuerSettings(issuer: "https://as-rsa.example", keySource: .jwksFile(directory + "/rsa-jwks.json"))],
                                    httpClient: nil, cacheCapacity: 1_000_000)
    await rsaVerifier.loadKeys()
    var rsaTokens: [String] = []
    for i in 0..<20_000 {
        let now = Date().timeIntervalSince1970.rounded(.down)
        let header = b64(Data(#"{"alg":"RS256","kid":"rsa-1","typ":"at+jwt"}"#.utf8))
        let claims = b64(Data(#"{"iss":"https://as-rsa.example","aud":"\#(aud)","exp":\#(now + 3600),"iat":\#(now),"scope":"patient/*.rs","patient":"p","jti":"\#(i)"}"#.utf8))
        let input = header + "." + claims
        let signature = try rsa.signature(for: SHA256.hash(data: Data(input.utf8)), padding: .insecurePKCS1v1_5).rawRepresentation
        rsaTokens.append(input + "." + b64(signature))
    }
    let rsCycle = Cycle(rsaTokens.count)
    let rsTokens = rsaTokens
    results.append(await measureAsync("verify RS256, cold (signature + claims)") {
        blackHole(try? await rsaVerifier.verify(rsTokens[rsCycle.next()], audience: aud))
    })
    let cached = fresh[0]
    _ = try? await verifier.verify(cached, audience: aud)
    results.append(await measureAsync("verify, cached token") { blackHole(try? await verifier.verify(cached, audience: aud)) })
}

// MARK: - Audit writer (fsync: interval)

if only == nil || only == "audit" {
    let directory = NSTemporaryDirectory() + "fhirgate-bench-audit-\(getpid())"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let writer = try AuditWriter(path: directory + "/audit.jsonl", capacity: 10_000, fsync: .interval)
    var record = AuditRecord(time: "2026-11-29T00:00:00.000Z", requestID: "00000000-0000-0000-0000-000000000000", method: "GET",
                             path: "/r4/Observation", decision: "narrowed", status: 200)
    record.query = "patient=pat-a&category=laboratory&_count=50"
    record.interaction = "searchType"; record.resourceType = "Observation"; record.clientID = "app"; record.issuer = "https://as.example"
    record.subject = "u1"; record.patient = "pat-a"; record.scopes = "patient/Observation.rs patient/Patient.rs"; record.tokenHash = "0123456789abcdef"
    record.reason = "scope_search_narrowed"; record.bytesOut = 61_234; record.durationMS = 3.2; record.upstreamDurationMS = 2.1
    results.append(measure("audit record encoding (one JSON line)") { blackHole(record.jsonLine(previousHash: "ab")) })
    let started = ContinuousClock.now
    let total = 200_000
    let sample = record
    await withTaskGroup(of: Void.self) { group in
        for w in 0..<64 { group.addTask { for _ in stride(from: w, to: total, by: 64) { await writer.append(sample) } } }
    }
    await writer.flush()
    let elapsed = started.duration(to: .now)
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    auditLines.append("| audit writer, fsync: interval, 64 producers | \(Int(Double(total) / seconds)) records/s |")
    let waited = record
    auditLines.append(await percentiles("audit appendAndWait (what a response waits for)", count: 5000) { await writer.appendAndWait(waited) })
    await writer.shutdown()
    try? FileManager.default.removeItem(atPath: directory)
}

// MARK: - Response guard (compartment check of a search Bundle)

/// A searchset of US Core lab Observations, about `bytes` long; every `foreignEvery`-th
/// entry belongs to another patient (0: none, so the guard passes the bytes untouched).
func searchBundle(bytes: Int, foreignEvery: Int) -> [UInt8] {
    var entries: [[String: Any]] = []
    var size = 0
    var i = 0
    while size < bytes {
        let patient = foreignEvery > 0 && i % foreignEvery == foreignEvery - 1 ? "pat-b" : "pat-a"
        let r: [String: Any] = [
            "resourceType": "Observation", "id": "obs-\(i)", "meta": ["versionId": "1", "lastUpdated": "2026-01-15T10:00:00Z"],
            "status": "final", "subject": ["reference": "Patient/\(patient)"], "effectiveDateTime": "2026-01-10T09:15:00Z",
            "category": [["coding": [["system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory", "display": "Laboratory"]]]],
            "code": ["coding": [["system": "http://loinc.org", "code": "2339-0", "display": "Glucose [Mass/volume] in Blood"]], "text": "Glucose"],
            "valueQuantity": ["value": 95, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"],
            "referenceRange": [["low": ["value": 70, "unit": "mg/dL"], "high": ["value": 99, "unit": "mg/dL"]]],
        ]
        let entry: [String: Any] = ["fullUrl": "http://127.0.0.1:8080/fhir/Observation/obs-\(i)", "resource": r, "search": ["mode": "match"]]
        size += (try! JSONSerialization.data(withJSONObject: entry)).count
        entries.append(entry)
        i += 1
    }
    let bundle: [String: Any] = ["resourceType": "Bundle", "type": "searchset", "total": entries.count, "entry": entries,
                                 "link": [["relation": "self", "url": "http://127.0.0.1:8080/fhir/Observation?patient=pat-a"]]]
    return Array(try! JSONSerialization.data(withJSONObject: bundle))
}

// `HotPathBenchmarks guard-count N`: N guard checks of the 60 KB Bundle and nothing
// else, for instruction counts under valgrind (steady on a shared machine, unlike time):
// valgrind --tool=callgrind for N and N+100, difference / 100 = instructions per check.
// A third argument `plain`: slashes not escaped (`Patient/p`, as HAPI and most servers
// write them; Foundation writes `Patient\/p`, which takes the guard's decoding path).
func countedBundle() -> [UInt8] {
    let body = searchBundle(bytes: 60_000, foreignEvery: 10)
    guard CommandLine.arguments.dropFirst(3).first == "plain" else { return body }
    var out: [UInt8] = []
    out.reserveCapacity(body.count)
    var i = 0
    while i < body.count {
        if body[i] == UInt8(ascii: "\\"), i + 1 < body.count, body[i + 1] == UInt8(ascii: "/") { i += 1 }
        out.append(body[i])
        i += 1
    }
    return out
}

if only == "guard-count" {
    let guardian = ResponseGuard(base: "https://fhir.example.org/r4")
    let check = ResponseCheck(patient: "pat-a", readableOutsideCompartment: ["Practitioner"])
    let body = countedBundle()
    let n = CommandLine.arguments.dropFirst(2).first.flatMap { Int($0) } ?? 1
    for _ in 0..<n { blackHole(guardian.check(body, against: check)) }
    exit(0)
}
// `HotPathBenchmarks parse-count N`: the same Bundle, parse only (the check's first part).
if only == "parse-count" {
    let body = countedBundle()
    let n = CommandLine.arguments.dropFirst(2).first.flatMap { Int($0) } ?? 1
    for _ in 0..<n { blackHole(JSONTree(body)) }
    exit(0)
}

var guardLines: [String] = []
if only == nil || only == "guard" {
    let guardian = ResponseGuard(base: "https://fhir.example.org/r4")
    let check = ResponseCheck(patient: "pat-a", readableOutsideCompartment: ["Practitioner"])
    let sixty = searchBundle(bytes: 60_000, foreignEvery: 0)
    results.append(measure("JSONTree parse, 60 KB Bundle") { blackHole(JSONTree(sixty)) })
    results.append(measure("JSONSerialization parse, 60 KB Bundle (for comparison)") { blackHole(try? JSONSerialization.jsonObject(with: Data(sixty))) })
    for (label, bytes, every) in [("60 KB", 60_000, 0), ("60 KB, 1 in 10 foreign", 60_000, 10), ("5 MB", 5_000_000, 0), ("5 MB, 1 in 10 foreign", 5_000_000, 10)] {
        let body = searchBundle(bytes: bytes, foreignEvery: every)
        var samples: [Double] = []
        let runs = bytes > 1_000_000 ? 8 : 300
        for _ in 0..<runs {
            let t = ContinuousClock.now
            blackHole(guardian.check(body, against: check))
            let d = t.duration(to: .now)
            samples.append(Double(d.components.seconds) * 1e6 + Double(d.components.attoseconds) / 1e12)
        }
        samples.sort()
        let p50 = samples[samples.count / 2]
        let mbps = Double(body.count) / p50 // bytes per µs = MB/s
        guardLines.append(String(format: "| guard check, %@ Bundle (%d bytes) | p50 %.0f µs | %.0f MB/s |", label, body.count, p50, mbps))
    }
}

report(results)
for line in guardLines { print(line) }
for line in auditLines { print(line) }

// MARK: - Redis limiter (needs FHIRGATE_BENCH_REDIS=redis://127.0.0.1:PORT/0)

if (only == nil || only == "redis"), let text = ProcessInfo.processInfo.environment["FHIRGATE_BENCH_REDIS"], let url = RedisURL(text) {
    let client = RedisClient(settings: .init(url: url), group: MultiThreadedEventLoopGroup.singleton)
    let limiter = RedisRateLimiter(client: client)
    let specs = [RateLimitSpec(name: "client", key: "bench", ratePerSecond: 1e9, burst: 1_000_000)]
    @Sendable func once() async { _ = try? await limiter.check(specs, cost: 1, tag: "bench", revocationKeys: ["fhirgate:revoked:jti:x"], nowMilliseconds: Date().timeIntervalSince1970 * 1000) }
    print("")
    print(await percentiles("Redis limiter + deny-list, one request at a time", count: 5000) { await once() })
    // Throughput with many requests in flight on the one pipelined connection.
    let started = ContinuousClock.now
    let total = 50_000
    await withTaskGroup(of: Void.self) { group in
        for w in 0..<64 { group.addTask { for _ in stride(from: w, to: total, by: 64) { await once() } } }
    }
    let seconds = Double(started.duration(to: .now).components.attoseconds) / 1e18 + Double(started.duration(to: .now).components.seconds)
    print("| Redis limiter decisions/s, 64 in flight on one connection | \(Int(Double(total) / seconds)) |")
    await client.close()
}
