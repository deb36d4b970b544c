import Testing
@testable import FHIRGateCore

/// The guard passes an unchecked Bundle unread only when its text cannot name a link base:
/// a wrong "cannot" leaks the upstream's address to the client.
@Suite struct JSONTextScanTests {
    let bases = ["http://ehr.internal:8080/fhir", "https://gw.example/r4"]

    func may(_ text: String) -> Bool {
        Array(text.utf8).withUnsafeBytes { JSONTextScan.mayContain(bases, in: $0) }
    }

    @Test func aBaseInTheBytesOrAnEscapeThatCouldSpellOneCounts() {
        #expect(may(#"{"fullUrl":"http://ehr.internal:8080/fhir/Patient/1"}"#))
        #expect(may(#"{"url":"https://gw.example/r4?x=1"}"#))
        #expect(may(#"["x","http://ehr.internal:8080/fhir"]"#)) // at the very end
        #expect(may(#"{"fullUrl":"http:\/\/ehr.internal:8080\/fhir\/Patient\/1"}"#))
        #expect(may(#"{"fullUrl":"\u0068ttp://ehr.internal:8080/fhir/Patient/1"}"#))
        #expect(may(#"{"a":"\u00e9"}"#)) // any \u could spell something
        #expect(may(#"{"a":"x\"#)) // a trailing backslash: unsure
    }

    @Test func textThatCannotNameABaseDoesNot() {
        #expect(!may(""))
        #expect(!may(#"{"fullUrl":"urn:uuid:1","url":"https://other.example/fhir"}"#))
        #expect(!may(#"{"text":"said \"hi\" and \\u0068 and \\/ and a\tb\n"}"#)) // escaped backslashes, then letters
        #expect(!may(#"{"fullUrl":"http://ehr.internal:8080/fhi"}"#)) // a prefix of a base only
        #expect(!may("http://ehr.internal:808")) // shorter than the base
        #expect(!(Array("http://ehr".utf8).withUnsafeBytes { JSONTextScan.mayContain([""], in: $0) }))
    }
}
