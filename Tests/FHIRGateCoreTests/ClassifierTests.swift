import Testing
@testable import FHIRGateCore

@Suite struct ClassifierTests {
    struct Row: Sendable, CustomTestStringConvertible {
        let method: HTTPMethodName
        let target: String
        let interaction: Interaction
        let type: String?
        let id: String?
        let operation: String?
        var testDescription: String { "\(method.rawValue) \(target) → \(interaction)" }
        init(_ method: HTTPMethodName, _ target: String, _ interaction: Interaction, _ type: String? = nil, _ id: String? = nil, op: String? = nil) {
            self.method = method
            self.target = target
            self.interaction = interaction
            self.type = type
            self.id = id
            operation = op
        }
    }

    static let rows: [Row] = [
        Row(.GET, "/metadata", .capabilities),
        Row(.GET, "/metadata?mode=full", .capabilities),
        Row(.GET, "/.well-known/smart-configuration", .smartConfiguration),
        Row(.GET, "/Patient/123", .read, "Patient", "123"),
        Row(.HEAD, "/Patient/123", .read, "Patient", "123"),
        Row(.GET, "/Patient/123/_history/2", .vread, "Patient", "123"),
        Row(.GET, "/Patient/123/_history", .historyInstance, "Patient", "123"),
        Row(.GET, "/Patient/_history", .historyType, "Patient"),
        Row(.GET, "/_history", .historySystem),
        Row(.POST, "/Patient", .create, "Patient"),
        Row(.PUT, "/Patient/123", .update, "Patient", "123"),
        Row(.PUT, "/Patient?identifier=x", .conditionalUpdate, "Patient"),
        Row(.PATCH, "/Patient/123", .patch, "Patient", "123"),
        Row(.PATCH, "/Patient?identifier=x", .conditionalPatch, "Patient"),
        Row(.DELETE, "/Patient/123", .delete, "Patient", "123"),
        Row(.DELETE, "/Patient?identifier=x", .conditionalDelete, "Patient"),
        Row(.GET, "/Observation?patient=1&code=x", .searchType, "Observation"),
        Row(.GET, "/Observation/_search?patient=1", .searchType, "Observation"),
        Row(.GET, "/?_type=Observation", .searchSystem),
        Row(.GET, "/Patient/1/Observation", .searchCompartment, "Observation"),
        Row(.GET, "/Patient/1/*", .searchCompartment, nil),
        Row(.POST, "/", .batchOrTransaction),
        Row(.GET, "/$export", .operationSystem, op: "export"),
        Row(.POST, "/$export", .operationSystem, op: "export"),
        Row(.GET, "/Patient/$export", .operationType, "Patient", op: "export"),
        Row(.GET, "/Group/g1/$export", .operationInstance, "Group", "g1", op: "export"),
        Row(.GET, "/Patient/1/$everything", .operationInstance, "Patient", "1", op: "everything"),
        Row(.POST, "/Observation/$validate", .operationType, "Observation", op: "validate"),
        Row(.GET, "/DocumentReference/$docref?patient=1", .operationType, "DocumentReference", op: "docref"),
        Row(.GET, "/?_getpages=abc", .pageContinuation),
        Row(.GET, "/Patient/", .searchType, "Patient"),
    ]

    @Test(arguments: rows)
    func classifies(_ row: Row) throws {
        let target = try RequestTarget.parse(row.target)
        let r = try RequestClassifier().classify(method: row.method, segments: target.segments, query: target.query)
        #expect(r.interaction == row.interaction)
        #expect(r.resourceType == row.type)
        #expect(r.id == row.id)
        #expect(r.operation == row.operation)
    }

    @Test func conditionalCreateCarriesItsCriteria() throws {
        let r = try RequestClassifier().classify(method: .POST, segments: ["Observation"], query: [], ifNoneExist: "identifier=a%7Cb&patient=1")
        #expect(r.interaction == .conditionalCreate)
        #expect(r.conditionalCriteria.map(\.value) == ["a|b", "1"])
    }

    @Test func postSearchMergesQueryAndForm() throws {
        let form = try RequestTarget.parseQuery(Array("code=x&patient=2".utf8))
        let r = try RequestClassifier().classify(method: .POST, segments: ["Observation", "_search"], query: [.init(name: "patient", value: "1")],
                                                 formBody: form)
        #expect(r.parameters.map(\.rawName) == ["patient", "code", "patient"])
        #expect(r.isFormSearch)
        #expect(r.pathSegments == ["Observation", "_search"])
    }

    @Test func rebuiltPathMatchesParsedOne() throws {
        for t in ["/Patient/1/_history/2", "/Patient/1/Observation", "/Group/g/$export", "/Observation/_history", "/metadata"] {
            let target = try RequestTarget.parse(t)
            let r = try RequestClassifier().classify(method: .GET, segments: target.segments, query: [])
            #expect("/" + r.pathSegments.joined(separator: "/") == t)
        }
    }
}

@Suite struct SearchParameterTests {
    @Test func splitsNameParts() {
        let chained = SearchParameter(name: "subject:Patient.name", value: "x")
        #expect(chained.code == "subject" && chained.modifier == "Patient" && chained.chain == "name")
        let has = SearchParameter(name: "_has:Observation:patient:code", value: "1")
        #expect(has.code == "_has" && has.modifier == "Observation:patient:code")
        let plain = SearchParameter(name: "code:text", value: "x")
        #expect(plain.code == "code" && plain.modifier == "text" && plain.chain == nil)
    }

    @Test func orListsHonourEscapedCommas() {
        #expect(SearchParameter(name: "p", value: "a,b\\,c,d").orValues == ["a", "b\\,c", "d"])
        #expect(SearchParameter(name: "p", value: "").orValues == [""])
    }

    @Test func referenceForms() {
        let base = "https://gw/r4"
        #expect(ReferenceValue.parse("123", base: base) == ReferenceValue(type: nil, id: "123"))
        #expect(ReferenceValue.parse("Patient/123", base: base) == ReferenceValue(type: "Patient", id: "123"))
        #expect(ReferenceValue.parse("https://gw/r4/Patient/123", base: base) == ReferenceValue(type: "Patient", id: "123"))
        #expect(ReferenceValue.parse("Patient/123/_history/2", base: base) == ReferenceValue(type: "Patient", id: "123"))
        #expect(ReferenceValue.parse("https://other/r4/Patient/123", base: base) == nil)
        #expect(ReferenceValue.parse("https://gw/r40/Patient/123", base: base) == nil)
        #expect(ReferenceValue.parse("Patient/123/extra", base: base) == nil)
        #expect(ReferenceValue.parse("patient/123", base: base) == nil)
        for malformed in ["", "/123", "Patient/", "Patient//123", "Patient/123/_history", "Patient/123/_history/",
                          "Patient/123/_history/2/x", "Patient/123/x/2", "Patient/12 3", "Patient/123/_history/2/"] {
            #expect(ReferenceValue.parse(malformed, base: base) == nil, "\(malformed)")
        }
        #expect(ReferenceValue.parse("https://gw/r4/Observation/o.1-a/_history/7", base: base) == ReferenceValue(type: "Observation", id: "o.1-a"))
    }
}

/// Inputs the fuzzer found, kept as named regressions.
@Suite struct FuzzRegressionTests {
    /// `.z{N` has a literal dot and an escape after re-encoding; only `%2e` is an encoded dot.
    @Test func literalDotNextToAnEscapeIsNotAnEncodedDot() throws {
        let t = try RequestTarget.parse("/.z{N/_/seR(ct")
        let rebuilt = "/" + t.segments.map { PercentEncoding.encode($0, inPath: true) }.joined(separator: "/")
        #expect(try RequestTarget.parse(rebuilt) == t)
        #expect(throws: GatewayError.self) { try RequestTarget.parse("/a%2Eb") }
    }
}

@Suite struct UTCTimeTests {
    @Test func formats() {
        // 2026-11-29T04:14:49.123Z
        let t = 1_795_925_689.123
        #expect(UTCTime.iso8601(secondsSince1970: t) == "2026-11-29T04:14:49.123Z")
        #expect(UTCTime.compact(secondsSince1970: t) == "20261129T041449Z")
        #expect(UTCTime.iso8601(secondsSince1970: 0) == "1970-01-01T00:00:00.000Z")
    }
}
