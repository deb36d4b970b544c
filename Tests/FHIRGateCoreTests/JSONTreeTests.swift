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

    /// Small objects compare key lengths before bytes; an escaped key can equal a key of
    /// another raw length, so it must be compared with every key whatever its length.
    @Test func aRepeatedKeyIsFoundAtEveryPositionOfSmallObjects() {
        for count in 1...17 { // objects of 2 to 18 keys: the pair, triple, 16-slot and set paths
            let keys = (0..<count).map { "\"\(String(repeating: "k", count: $0 + 1))\":\($0)" }
            #expect(parse("{" + keys.joined(separator: ",") + "}") != nil)
            for x in 0..<count {
                let name = String(repeating: "k", count: x + 1)
                let escapedName = "\\u006B" + String(repeating: "k", count: x)
                for y in 0..<count {
                    var repeated = keys
                    repeated.insert("\"\(name)\":0", at: y)
                    #expect(parse("{" + repeated.joined(separator: ",") + "}") == nil, "\(count) keys, k×\(x + 1) again at \(y)")
                    repeated[y] = "\"\(escapedName)\":0"
                    #expect(parse("{" + repeated.joined(separator: ",") + "}") == nil, "\(count) keys, escaped k×\(x + 1) at \(y)")
                }
            }
        }
        // Same length, different bytes; escaped, different value: both distinct.
        #expect(parse(#"{"ab":1,"ba":2,"\u0061c":3,"ca":4}"#) != nil)
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

    /// The string scan skips eight plain bytes at a time and jumps to the first special
    /// byte of a word: a quote, backslash or control byte at every offset of a word (and
    /// near the end of the document) is found exactly.
    @Test func specialBytesAreFoundAtEveryOffset() throws {
        for n in 0..<20 {
            let plain = String(repeating: "é", count: n / 2) + String(repeating: "a", count: n % 2)
            let padding = String(repeating: " ", count: n % 9)
            #expect(parse("[\"\(plain)\"]\(padding)")?.elements.first(where: { _ in true })?.string == plain, "length \(n)")
            #expect(parse("[\"\(plain)\\/x\"]")?.elements.first(where: { _ in true })?.string == plain + "/x")
            #expect(parse("[\"\(plain)\u{1F}x\"]") == nil, "control byte after \(n) bytes")
            #expect(parse("[\"\(plain)\\qx\"]") == nil, "bad escape after \(n) bytes")
            #expect(parse("[\"\(plain)") == nil && parse("[\"\(plain)\\") == nil)
            // A quote inside the word ends the string there: what follows must be JSON.
            #expect(parse("[\"\(plain)\"x\"]") == nil)
            #expect(parse("[\"\(plain)\",\"b\"]")?.elements.map { $0.string ?? "" } == [plain, "b"])
        }
        // Bytes above 0x7F are plain (UTF-8 continuation bytes must not be taken for controls).
        #expect(parse("[\"\u{80}\u{7FF}\u{FFFF}\u{10FFFF}\"]")?.elements.first(where: { _ in true })?.string == "\u{80}\u{7FF}\u{FFFF}\u{10FFFF}")
    }

    @Test func choiceElementsAreFoundByPrefix() throws {
        let r = try #require(ResourceInspector.parse(Array(#"{"resourceType":"Observation","valueCodeableConcept":{"coding":[{"code":"x"}]},"valuex":1}"#.utf8)))
        let value = ElementPaths(paths: [[Array("value".utf8)]], understood: true)
        let out = try #require(ResourceInspector.evaluate(value, on: r))
        #expect(out.count == 1 && out[0]["coding"] != nil)
        // Only an upper-case letter after the name makes a choice form; escaped keys count by value.
        let other = try #require(ResourceInspector.parse(Array(#"{"valuecodeableConcept":1,"val":2,"value":null,"\u0076alueString":"s"}"#.utf8)))
        let found = try #require(ResourceInspector.evaluate(value, on: other))
        #expect(found.count == 1 && found[0].kind == .null)
        let escaped = try #require(ResourceInspector.parse(Array(#"{"\u0076alueString":"s","valuex":1}"#.utf8)))
        let choice = try #require(ResourceInspector.evaluate(value, on: escaped))
        #expect(choice.map { $0.string } == ["s"])
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
