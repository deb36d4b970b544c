import FHIRGateCore

// A typical US Core patient-app search, from the raw target to the decision.
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

var results: [Measurement] = []
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
report(results)
