import Foundation
import Testing
@testable import FHIRGateCore

/// The escaper for text the gateway writes itself (audit records, outcomes): whatever
/// goes in comes back out of a JSON reader unchanged, wherever the special bytes sit.
@Suite struct JSONTextTests {
    @Test(arguments: [
        "", "plain", "\"", "\\", "a\"b", "\"start", "end\\", "tab\there", "line\nbreak\r\n", "\u{0}\u{1}\u{1F}", "\u{7F}",
        "Ana Rivera \u{e9}\u{4e2d}\u{1F600}", "\\\"\\\"", String(repeating: "x", count: 300) + "\"" + String(repeating: "y", count: 300),
    ])
    func escapedTextReadsBackUnchanged(_ text: String) throws {
        var out = Array("[\"".utf8)
        JSONText.appendEscaped(text, to: &out)
        out += Array("\"]".utf8)
        let foundation = try JSONSerialization.jsonObject(with: Data(out)) as? [String]
        #expect(foundation == [text])
        let ours = JSONTree(out)?.root.elements.first { _ in true }
        #expect(ours?.string == text)
        #expect(JSONText.escape(text) == String(decoding: out.dropFirst(2).dropLast(2), as: UTF8.self))
    }

    @Test func controlCharactersAreWrittenAsEscapes() {
        var out: [UInt8] = []
        JSONText.appendEscaped("a\u{1}\"\n", to: &out)
        #expect(String(decoding: out, as: UTF8.self) == #"a\u0001\"\n"#)
    }
}
