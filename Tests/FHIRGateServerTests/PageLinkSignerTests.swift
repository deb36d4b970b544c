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

    /// URLs under the base an upstream advertises are put back on the configured one;
    /// nothing else is touched.
    @Test func advertisedURLsMapToTheConfiguredUpstream() {
        let settings = RouteSettings(name: "r", baseURL: "https://gw.example/r4", basePath: ["r4"], host: nil, upstream: base,
                                     upstreamAdvertisedBase: "https://ehr.example.org/fhir", policyFile: nil, upstreamAuthorization: .strip,
                                     upstreamTLS: .init(), connectTimeoutSeconds: 1, readTimeoutSeconds: 1)
        #expect(settings.upstreamBases == [base, "https://ehr.example.org/fhir"])
        #expect(settings.upstreamURL("https://ehr.example.org/fhir/$export-poll-status?_jobId=1") == base + "/$export-poll-status?_jobId=1")
        #expect(settings.upstreamURL("https://ehr.example.org/fhir?_getpages=x") == base + "?_getpages=x")
        #expect(settings.upstreamURL("https://ehr.example.org/fhir") == base)
        #expect(settings.upstreamURL("https://ehr.example.org/fhir2/Patient/1") == "https://ehr.example.org/fhir2/Patient/1")
        #expect(settings.upstreamURL("https://elsewhere.example/fhir/Patient/1") == "https://elsewhere.example/fhir/Patient/1")
        #expect(settings.upstreamURL(base + "/Patient/1") == base + "/Patient/1")
    }
}
