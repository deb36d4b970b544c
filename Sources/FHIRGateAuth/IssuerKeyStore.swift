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
    /// When the keys should be fetched again in the background (from `Cache-Control:
    /// max-age`, bounded by the issuer's settings).
    private(set) var refreshAfter: Date = .distantPast
    /// When the keys last loaded successfully.
    private(set) var lastSuccess: Date?

    init(settings: IssuerSettings, httpClient: HTTPClient?, minimumRefreshInterval: TimeInterval = 30) {
        self.settings = settings
        self.httpClient = httpClient
        self.minimumRefreshInterval = minimumRefreshInterval
    }

    /// The key for `kid`, refreshing once if it is not known yet.
    func key(for kid: String) async throws(TokenFailure) -> JWKSSnapshot.Key {
        if let lastSuccess, Date().timeIntervalSince(lastSuccess) > settings.keysMaxStaleSeconds {
            // The authorization server has been unreachable for too long: fail closed.
            throw .keysUnavailable
        }
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

    /// Background refresh, called periodically: fetches when the keys are due.
    func refreshIfDue() async {
        guard Date() >= refreshAfter else { return }
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
            let (data, maxAge) = try await Self.fetch(settings: settings, httpClient: httpClient)
            var snapshot = try await JWKSSnapshot.make(jwksJSON: data, settings: settings)
            snapshot.maxAge = maxAge
            return snapshot
        }
        inFlight = task
        fetchCount += 1
        do {
            let fresh = try await task.value
            snapshot = fresh
            lastError = nil
            lastSuccess = Date()
            let age = min(max(fresh.maxAge ?? settings.keysRefreshSeconds, settings.keysMinimumRefreshSeconds), settings.keysMaximumRefreshSeconds)
            refreshAfter = Date().addingTimeInterval(age)
        } catch {
            lastError = .keysUnavailable
            // Retry soon, but not in a tight loop.
            refreshAfter = Date().addingTimeInterval(min(settings.keysMinimumRefreshSeconds, 30))
        }
        inFlight = nil
    }

    static func fetch(settings: IssuerSettings, httpClient: HTTPClient?) async throws -> (Data, TimeInterval?) {
        switch settings.keySource {
        case .introspectionOnly:
            return (Data(#"{"keys":[]}"#.utf8), nil)
        case .jwksFile(let path):
            return (try Data(contentsOf: URL(fileURLWithPath: path)), nil)
        case .jwksURI(let uri):
            guard let httpClient else { throw TokenFailure.keysUnavailable }
            var request = HTTPClientRequest(url: uri)
            request.headers.add(name: "Accept", value: "application/json")
            let response = try await httpClient.execute(request, timeout: .seconds(5))
            guard response.status == .ok else { throw TokenFailure.keysUnavailable }
            let body = try await response.body.collect(upTo: 1 << 20)
            return (Data(body.readableBytesView), maxAge(response.headers.first(name: "cache-control")))
        }
    }

    /// `max-age` from a Cache-Control value.
    static func maxAge(_ cacheControl: String?) -> TimeInterval? {
        guard let cacheControl else { return nil }
        for directive in cacheControl.lowercased().split(separator: ",") {
            let parts = directive.trimmingCharacters(in: .whitespaces).split(separator: "=")
            if parts.count == 2, parts[0] == "max-age", let seconds = TimeInterval(parts[1]) { return seconds }
        }
        return nil
    }
}
