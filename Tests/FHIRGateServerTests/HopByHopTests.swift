import NIOHTTP1
import Testing
@testable import FHIRGateServer

/// Which headers stop at the proxy (the integration test sends them through both ways).
@Suite struct HopByHopTests {
    @Test func listedAndConnectionNamedHeadersGoWhateverTheirCase() {
        let headers = HTTPHeaders([("CONNECTION", "Keep-Alive, X-Hop"), ("keep-alive", "timeout=5"), ("Transfer-Encoding", "chunked"),
                                   ("TE", "trailers"), ("x-hop", "1"), ("Upgrade", "h2c"), ("Proxy-Authenticate", "Basic"),
                                   ("Content-Type", "application/fhir+json"), ("Tea", "kept"), ("X-Hops", "kept"), ("Trailers", "kept")])
        let kept = HopByHop.strip(headers)
        #expect(kept.map(\.name) == ["Content-Type", "Tea", "X-Hops", "Trailers"])
    }

    @Test func everyConnectionHeaderAndEveryTokenOfItCounts() {
        let headers = HTTPHeaders([("Connection", " x-a ,\tX-B\t,,"), ("connection", "x-c"), ("X-A", "1"), ("x-b", "2"), ("X-C", "3"),
                                   ("X-AB", "kept"), ("X", "kept"), ("x-b-", "kept")])
        #expect(HopByHop.strip(headers).map(\.name) == ["X-AB", "X", "x-b-"])
        #expect(HopByHop.lists("keep-alive", "Keep-Alive"))
        #expect(HopByHop.lists("a, keep-alive", "keep-alive"))
        #expect(!HopByHop.lists("keep-alive2", "keep-alive"))
        #expect(!HopByHop.lists("", "x"))
        #expect(!HopByHop.lists(" , ", ""))
    }

    @Test func headersWithNothingToDropAreKeptInOrder() {
        let headers = HTTPHeaders([("Content-Type", "application/fhir+json"), ("ETag", "W/\"1\""), ("content-type", "again")])
        #expect(HopByHop.strip(headers).map { "\($0.name)=\($0.value)" } == ["Content-Type=application/fhir+json", "ETag=W/\"1\"", "content-type=again"])
    }

    @Test func namesCompareWithoutRegardToASCIICaseOnly() {
        #expect(ASCIICase.equal("Keep-Alive", "keep-alive"))
        #expect(ASCIICase.equal("x-Forwarded-For, te".dropLast(4), "X-FORWARDED-FOR"))
        #expect(!ASCIICase.equal("keep-alive", "keep\rali\u{16}e"))
        #expect(!ASCIICase.equal("keep-alive", "keep-alivé"))
        #expect(!ASCIICase.equal("te", "t"))
        #expect(!HopByHop.isListed("upgradex"))
    }
}
