import Foundation
import Testing
@testable import FHIRGateCore

/// The byte-level JSON reader the guard and the body checks use: strict, and in
/// agreement with Foundation on everything valid.
@Suite struct JSONTreeTests {
    func parse(_ text: String) -> JSONValue? { JSONTree(Array(text.utf8))?.root }

    @Test(arguments: [
        "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "[01]", "[1.]", "[.5]", "[1e]", "[-]", "[+1]",
        "[tru]", "[nul]", "[\"\\x\"]", "[\"\\u12\"]", "[\"a\nb\"]", "\"unterminated", "[1] [2]", "{\"a\":1}x",
        "{\"a\":1,\"a\":2}", "{\"a\":1,\"\\u0061\":2}", "[NaN]", "[Infinity]", "[\u{0}]", #"["\ud800"]"#, #"["\udc00"]"#, #"["\ud800\u0041"]"#,
    ])
    func invalidDocumentsAreRefused(_ text: String) {
        #expect(parse(text) == nil, "accepted \(text.debugDescription)")
    }

    @Test func nestingIsBounded() {
        #expect(parse(String(repeating: "[", count: 200) + String(repeating: "]", count: 200)) != nil)
        #expect(parse(String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)) == nil)
    }

    @Test func manyDistinctKeysAreFineButOneRepeatIsNot() {
        let keys = (0..<100).map { "\"k\($0)\":\($0)" }
        #expect(parse("{" + keys.joined(separator: ",") + "}") != nil)
        #expect(parse("{" + keys.joined(separator: ",") + ",\"k50\":0}") == nil)
    }

    @Test func valuesAndEscapes() throws {
        let v = try #require(parse(#" { "a" : [1, -2.5e3, true, false, null, "x\"y\u00e9\ud83d\ude00\/"], "b": {}, "c": [] } "#))
        let a = try #require(v["a"])
        let items = Array(a.elements)
        #expect(items.map(\.kind) == [.number, .number, .bool, .bool, .null, .string])
        #expect(items[5].string == "x\"yé😀/")
        #expect(String(decoding: items[1].rawBytes, as: UTF8.self) == "-2.5e3")
        #expect(v["b"]?.isObject == true && v["b"].map { Array($0.members).isEmpty } == true)
        #expect(v["c"]?.elements.isEmpty == true)
        #expect(v["missing"] == nil)
        #expect(v["\u{61}"] != nil)
        // Escaped keys are found by their value.
        #expect(parse(#"{"\u0073ubject":1}"#)?["subject"] != nil)
    }

    @Test func choiceElementsAreFoundByPrefix() throws {
        let r = try #require(ResourceInspector.parse(Array(#"{"resourceType":"Observation","valueCodeableConcept":{"coding":[{"code":"x"}]},"valuex":1}"#.utf8)))
        var out: [JSONValue] = []
        ResourceInspector.collect(r, path: [Array("value".utf8)][...], into: &out)
        #expect(out.count == 1 && out[0]["coding"] != nil)
    }

    @Test func splicedObjectsKeepUntouchedBytes() throws {
        let text = #"{"resourceType":"Bundle","total":3,"link":[{"relation":"next","url":"http://up/x"}],"entry":[ {"a" : 1} ]}"#
        let v = try #require(parse(text))
        let out = JSONBytes.object(v, replacing: ["total": nil, "link": JSONBytes.array([JSONBytes.string("q\"\n")[...]])])
        #expect(String(decoding: out, as: UTF8.self) == #"{"resourceType":"Bundle","link":["q\"\n"],"entry":[ {"a" : 1} ]}"#)
        #expect((try? JSONSerialization.jsonObject(with: Data(out))) != nil)
    }

    /// Agreement with Foundation on real FHIR shapes: same members, same strings.
    @Test func agreesWithFoundationOnTheSampleData() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Sources/FHIRGateDemo/Resources/sample-data.json")
        let bytes = Array(try Data(contentsOf: url))
        let tree = try #require(JSONTree(bytes)?.root)
        let foundation = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        let resources = Array(try #require(tree["resources"]).elements)
        let expected = try #require(foundation["resources"] as? [[String: Any]])
        #expect(resources.count == expected.count)
        for (r, e) in zip(resources, expected) {
            #expect(r["id"]?.string == e["id"] as? String)
            #expect(Set(r.members.map { $0.key.string ?? "" }) == Set(e.keys))
        }
    }
}
