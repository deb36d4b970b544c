import AsyncHTTPClient
import Foundation
import NIOCore

/// The current keys of one issuer, with single-flight refresh: a burst of tokens with an
/// unknown `kid` causes at most one fetch per `minimumRefreshInterval`, and a failed
/// fetch keeps the last good keys.
actor IssuerKeyStore {
    let settings: IssuerSettings
    let httpClient: HTTPClient?
    let minimumRefreshInterval: TimeInterval
    private(set) var snapshot: JWKSSnapshot = .empty
    private var lastAttempt: Date = .distantPast
    private var inFlight: Task<JWKSSnapshot, Error>?
    private(set) var lastError: TokenFailure?
    private(set) var fetchCount = 0

    init(settings: IssuerSettings, httpClient: HTTPClient?, minimumRefreshInterval: TimeInterval = 30) {
        self.settings = settings
        self.httpClient = httpClient
        self.minimumRefreshInterval = minimumRefreshInterval
    }

    /// The key for `kid`, refreshing once if it is not known yet.
    func key(for kid: String) async throws(TokenFailure) -> JWKSSnapshot.Key {
        if let key = snapshot.keys[kid] { return key }
        await refreshIfAllowed()
        if let key = snapshot.keys[kid] { return key }
        throw snapshot.keys.isEmpty && lastError != nil ? .keysUnavailable : .unknownKeyID
    }

    /// Loads keys now (start-up and reload); errors are kept for readiness reporting.
    func load() async {
        lastAttempt = .distantPast
        await refreshIfAllowed()
    }

    var isHealthy: Bool {
        if case .introspectionOnly = settings.keySource { return true }
        return lastError == nil && !snapshot.keys.isEmpty
    }

    private func refreshIfAllowed() async {
        if let inFlight {
            _ = try? await inFlight.value
            return
        }
        guard Date().timeIntervalSince(lastAttempt) >= minimumRefreshInterval else { return }
        lastAttempt = Date()
        let task = Task { [settings, httpClient] in
            let data = try await Self.fetch(settings: settings, httpClient: httpClient)
            return try await JWKSSnapshot.make(jwksJSON: data, settings: settings)
        }
        inFlight = task
        fetchCount += 1
        do {
            let fresh = try await task.value
            snapshot = fresh
            lastError = nil
        } catch {
            lastError = .keysUnavailable
        }
        inFlight = nil
    }

    static func fetch(settings: IssuerSettings, httpClient: HTTPClient?) async throws -> Data {
        switch settings.keySource {
        case .introspectionOnly:
            return Data(#"{"keys":[]}"#.utf8)
        case .jwksFile(let path):
            return try Data(contentsOf: URL(fileURLWithPath: path))
        case .jwksURI(let uri):
            guard let httpClient else { throw TokenFailure.keysUnavailable }
            var request = HTTPClientRequest(url: uri)
            request.headers.add(name: "Accept", value: "application/json")
            let response = try await httpClient.execute(request, timeout: .seconds(5))
            guard response.status == .ok else { throw TokenFailure.keysUnavailable }
            let body = try await response.body.collect(upTo: 1 << 20)
            return Data(body.readableBytesView)
        }
    }
}
