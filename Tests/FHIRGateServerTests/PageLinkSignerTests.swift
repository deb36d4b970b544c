import Testing
@testable import FHIRGateServer

/// Which URLs in a Bundle point at the upstream: a wrong answer either leaks the
/// upstream's address to the client or rewrites a link that is not ours.
@Suite struct PageLinkSignerTests {
    let base = "http://ehr.internal:8080/fhir"

    @Test func targetsBelowTheBaseAreRelative() {
        #expect(PageLinkSigner.relativeTarget(of: base, base: base) == "")
        #expect(PageLinkSigner.relativeTarget(of: base + "/Observation/obs-1", base: base) == "/Observation/obs-1")
        #expect(PageLinkSigner.relativeTarget(of: base + "?_getpages=abc&_count=10", base: base) == "/?_getpages=abc&_count=10")
        #expect(PageLinkSigner.relativeTarget(of: base + "/Patient/é", base: base) == "/Patient/é")
    }

    @Test func otherURLsAreNotOurs() {
        // Same prefix, another path segment: not below the base.
        #expect(PageLinkSigner.relativeTarget(of: base + "2/Observation", base: base) == nil)
        #expect(PageLinkSigner.relativeTarget(of: "http://ehr.internal:8080/fhi", base: base) == nil)
        #expect(PageLinkSigner.relativeTarget(of: "https://ehr.internal:8080/fhir/Patient/1", base: base) == nil)
        #expect(PageLinkSigner.relativeTarget(of: "Observation/obs-1", base: base) == nil)
        #expect(PageLinkSigner.relativeTarget(of: "", base: base) == nil)
    }
}
