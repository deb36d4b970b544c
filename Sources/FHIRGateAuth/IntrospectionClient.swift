import AsyncHTTPClient
import FHIRGateCore
import Foundation
import NIOCore
import Synchronization

/// RFC 7662 token introspection (SMART 2.x profile) for opaque access tokens.
///
/// Positive answers are cached until `min(exp, now + cacheSeconds)`, negative ones for
/// `negativeCacheSeconds`. Timeouts, HTTP errors and unreadable answers fail closed:
/// the token is refused (401), never let through.
public final class IntrospectionClient: Sendable {
    public struct Settings: Sendable, Equatable {
        public var endpoint: String
        public var clientID: String
        public var clientSecret: String
        public var cacheSeconds: Double
        public var negativeCacheSeconds: Double
        public var timeoutSeconds: Double

        public init(endpoint: String, clientID: String, clientSecret: String, cacheSeconds: Double = 300,
                    negativeCacheSeconds: Double = 10, timeoutSeconds: Double = 2) {
            self.endpoint = endpoint
            self.clientID = clientID
            self.clientSecret = clientSecret
            self.cacheSeconds = cacheSeconds
            self.negativeCacheSeconds = negativeCacheSeconds
            self.timeoutSeconds = timeoutSeconds
        }
    }

    let settings: Settings
    let issuer: IssuerSettings
    let httpClient: HTTPClient
    /// Answers by token hash, kept as JSON bytes (Sendable) and parsed again on a hit.
    private let cache = Mutex<[String: (result: Result<Data, TokenFailure>, until: Double)]>([:])

    init(settings: Settings, issuer: IssuerSettings, httpClient: HTTPClient) {
        self.settings = settings
        self.issuer = issuer
        self.httpClient = httpClient
    }

    /// The active token's claims, or why it is refused.
    func introspect(_ token: String, key: String, now: Double) async throws(TokenFailure) -> [String: Any] {
        if let hit = cache.withLock({ $0[key] }), hit.until > now {
            return try Self.parse(hit.result.get())
        }
        let result: Result<Data, TokenFailure>
        do {
            result = .success(try await post(token))
        } catch let failure as TokenFailure {
            result = .failure(failure)
        } catch {
            result = .failure(.introspectionUnavailable)
        }
        switch result {
        case .success(let data):
            let exp = (try? Self.parse(data)["exp"] as? NSNumber)?.doubleValue ?? (now + settings.cacheSeconds)
            store(key, result, until: min(exp, now + settings.cacheSeconds), now: now)
        case .failure(.inactive):
            store(key, result, until: now + settings.negativeCacheSeconds, now: now)
        case .failure:
            break // outages are not cached: the next request asks again
        }
        return try Self.parse(result.get())
    }

    static func parse(_ data: Data) throws(TokenFailure) -> [String: Any] {
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { throw .introspectionUnavailable }
        return object
    }

    private func store(_ key: String, _ result: Result<Data, TokenFailure>, until: Double, now: Double) {
        cache.withLock { c in
            if c.count > 50_000 { c = c.filter { $0.value.until > now } }
            if c.count > 50_000 { c.removeAll() }
            c[key] = (result, until)
        }
    }

    private func post(_ token: String) async throws -> Data {
        var request = HTTPClientRequest(url: settings.endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        let credentials = Data((settings.clientID + ":" + settings.clientSecret).utf8).base64EncodedString()
        request.headers.add(name: "Authorization", value: "Basic " + credentials)
        request.body = .bytes(ByteBuffer(string: "token=" + PercentEncoding.encode(token, inPath: false) + "&token_type_hint=access_token"))
        let response = try await httpClient.execute(request, timeout: .milliseconds(Int64(settings.timeoutSeconds * 1000)))
        let body = try await response.body.collect(upTo: 256 * 1024)
        guard response.status == .ok,
              let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any],
              let active = object["active"] as? Bool else { throw TokenFailure.introspectionUnavailable }
        guard active else { throw TokenFailure.inactive }
        _ = object
        return Data(body.readableBytesView)
    }
}
