import FHIRGateCore
import Foundation
import NIOCore
import NIOSSL

/// One route, ready to serve: its settings, the decision objects built from its policy,
/// and its upstream connection pool. Immutable; a reload builds new ones.
final class RouteRuntime: Sendable {
    let settings: RouteSettings
    let policy: PolicyFile?
    /// Scopes, request bodies and the route's compiled policy, in one pure decision.
    let evaluator: PolicyEvaluator
    let responseGuard: ResponseGuard
    let upstream: UpstreamClient
    /// The Authorization value sent upstream in `replace` mode.
    let upstreamCredential: String?
    let upstreamBasePath: String
    /// The bases the upstream's answers name it by (`RouteSettings.upstreamBases`), built
    /// once: link rewriting reads them for every Bundle entry.
    let upstreamBases: [String]
    /// The URL prefixes Bundle links are rewritten from (upstream and public base), for
    /// the guard's look at a page's bytes before it reads one.
    let linkBases: [String]

    init(settings: RouteSettings, policy: PolicyFile?, group: any EventLoopGroup) throws {
        self.settings = settings
        self.policy = policy
        evaluator = PolicyEvaluator(policy: policy, baseURL: settings.baseURL)
        upstreamBases = settings.upstreamBases
        responseGuard = ResponseGuard(base: settings.baseURL, upstreamBases: upstreamBases)
        if case .replace(let file) = settings.upstreamAuthorization {
            upstreamCredential = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            upstreamCredential = nil
        }
        upstreamBasePath = URL(string: settings.upstream).map { $0.path } ?? ""
        linkBases = upstreamBases + [settings.baseURL]

        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        if let ca = settings.upstreamTLS.caBundle {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
        }
        if let cert = settings.upstreamTLS.certificate, let key = settings.upstreamTLS.privateKey {
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
        }
        guard let origin = UpstreamOrigin(url: settings.upstream) else { throw UpstreamError.foreignOrigin }
        upstream = try UpstreamClient(origin: origin, tls: tls, connectTimeout: .milliseconds(Int64(settings.connectTimeoutSeconds * 1000)),
                                      readTimeout: .milliseconds(Int64(settings.readTimeoutSeconds * 1000)), group: group)
    }

    var authorizer: Authorizer { evaluator.authorizer }

    /// The realm in `WWW-Authenticate` answers.
    var realm: String { settings.baseURL }
}
