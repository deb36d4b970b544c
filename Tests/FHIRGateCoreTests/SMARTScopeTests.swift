import Testing
@testable import FHIRGateCore

@Suite struct SMARTScopeTests {
    static let valid: [(String, SMARTScope.Context, String?, String)] = [
        ("patient/Observation.read", .patient, "Observation", "rs"),
        ("patient/Observation.write", .patient, "Observation", "cud"),
        ("patient/Observation.*", .patient, "Observation", "cruds"),
        ("user/*.read", .user, nil, "rs"),
        ("system/*.*", .system, nil, "cruds"),
        ("system/Patient.read", .system, "Patient", "rs"),
        ("patient/Observation.rs", .patient, "Observation", "rs"),
        ("patient/Observation.r", .patient, "Observation", "r"),
        ("patient/Observation.cruds", .patient, "Observation", "cruds"),
        ("user/Condition.cu", .user, "Condition", "cu"),
        ("user/Condition.ds", .user, "Condition", "ds"),
        ("user/Condition.c", .user, "Condition", "c"),
        ("user/Condition.crus", .user, "Condition", "crus"),
    ]

    @Test func parsesValidScopes() throws {
        for (text, context, type, letters) in Self.valid {
            let s = try #require(SMARTScope.parse(text), "\(text)")
            #expect(s.context == context, "\(text)")
            #expect(s.resourceType == type, "\(text)")
            #expect(s.permissions.letters == letters, "\(text)")
        }
    }

    static let invalid = [
        "patient/Observation.sr", "patient/Observation.dus", "patient/Observation.rr", "patient/Observation.", "patient/Observation",
        "patient/observation.read", "patient/Unknown.read", "admin/Observation.read", "Patient/Observation.read", "patient/Observation.readwrite",
        "patient/Observation.x", "openid", "fhirUser", "launch/patient", "offline_access", "patient/*.rs?category=x",
        "patient/Observation.read?category=x", "patient/Observation.rs?", "patient/Observation.rs?category", "patient/Observation.rs?nope=1",
        "patient/Observation.rs?code:in=x", "patient/Observation.rs?subject.name=x", "patient/Observation.rs?category=%zz", "",
        "patient/Observation.rs?category=", "/Observation.read", "patient//Observation.read", "patient/Observation.RS",
    ]

    @Test(arguments: invalid)
    func refusesMalformedScopes(_ text: String) {
        #expect(SMARTScope.parse(text) == nil)
    }

    @Test func granularConstraintsAreParsed() throws {
        let s = try #require(SMARTScope.parse("patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory&status=final"))
        #expect(s.constraints.count == 2)
        #expect(s.constraints[0].parameter == "category")
        #expect(s.constraints[0].value == "http://terminology.hl7.org/CodeSystem/observation-category|laboratory")
    }

    @Test func resourceLevelBeatsGranular() {
        let scopes = GrantedScopes("patient/Observation.rs?category=a|b patient/Observation.rs")
        #expect(scopes.matching(context: .patient, type: "Observation", needed: .search) == .full)
        let granularOnly = GrantedScopes("patient/Observation.rs?category=a|b patient/Observation.rs?category=a|c")
        guard case .granular(let granted) = granularOnly.matching(context: .patient, type: "Observation", needed: .search) else {
            Issue.record("expected granular")
            return
        }
        #expect(granted.count == 2)
    }

    @Test func unionAcrossScopesAndNoCrossContext() {
        let scopes = GrantedScopes("patient/Observation.c patient/Observation.s user/Condition.r")
        #expect(scopes.matching(context: .patient, type: "Observation", needed: [.create, .search]) == .full)
        #expect(scopes.matching(context: .patient, type: "Observation", needed: [.read]) == .none)
        #expect(scopes.matching(context: .user, type: "Observation", needed: [.search]) == .none)
        #expect(scopes.matching(context: .patient, type: "Condition", needed: [.read]) == .none)
    }
}

@Suite struct RequestTargetTests {
    @Test func decodesQueryAndKeepsOrder() throws {
        let t = try RequestTarget.parse("/r4/Observation?code=http%3A%2F%2Floinc.org%7C1234&date=ge2020&date=le2021&name=a+b")
        #expect(t.segments == ["r4", "Observation"])
        #expect(t.query.map(\.name) == ["code", "date", "date", "name"])
        #expect(t.query[0].value == "http://loinc.org|1234")
        #expect(t.query[3].value == "a b")
    }

    static let refused = ["", "Patient", "*", "http://evil/Patient", "/a/%2F", "/a/%2f", "/a/%2e%2e", "/a/..", "/a/.", "/a//b", "/a;b", "/a/%00",
                          "/a b", "/a\u{7f}", "/a/%3F", "/a/%23", "/a#b", "/a/%zz", "/a/%2", "/a?x=%zz", "/a?x=%00", "/a?=1", "/ä",
                          "/a?x=\u{01}", "/a/%5c", "/a/%c3%28"]

    @Test(arguments: refused)
    func refusesAmbiguousTargets(_ raw: String) {
        #expect(throws: GatewayError.self) { try RequestTarget.parse(raw) }
    }

    @Test func reencodingRoundTrips() throws {
        let items: [RequestTarget.QueryItem] = [.init(name: "code", value: "http://loinc.org|1234"), .init(name: "name", value: "a b&c=d"),
                                                .init(name: "subject", value: "Patient/1,Patient/2")]
        let text = PercentEncoding.query(items)
        let back = try RequestTarget.parseQuery(Array(text.utf8))
        #expect(back == items)
    }
}
