import FHIRGateAuth

/// The validated configuration. Built only by `ConfigLoader`; the YAML key names are a
/// public interface (see `Config/README.md`): extend, never rename.
public struct GatewayConfig: Sendable {
    public var file: String
    public var server: ServerSettings
    public var admin: AdminSettings?
    public var auth: AuthSettings
    public var rateLimit: RateLimitSettings
    public var audit: AuditSettings
    public var routes: [RouteSettings]
}

public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Whether both cannot be bound at once: the same port (not 0, which picks a free
    /// one) on the same host or where either is a wildcard address.
    func overlaps(_ other: ListenAddress) -> Bool {
        guard port != 0, port == other.port else { return false }
        let wildcards: Set<String> = ["0.0.0.0", "::", "*", ""]
        return host == other.host || wildcards.contains(host) || wildcards.contains(other.host)
    }

    /// `host:port` or `[v6]:port`.
    public static func parse(_ text: String) -> ListenAddress? {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, let port = Int(portText), (0...65535).contains(port) else { return nil }
        return ListenAddress(host: String(host), port: port)
    }
}

public struct ServerSettings: Sendable {
    public var listen: ListenAddress
    public var tls: TLSSettings?
    public var limits: Limits
    /// How long SIGTERM waits for in-flight requests before closing them.
    public var drainTimeoutSeconds: Double
    /// Key for signing paging links; shared by all instances behind one balancer.
    public var pageLinkSecretFile: String?
    /// Reload when the config, a policy or a policy test file changes (checked every
    /// second), as SIGHUP does.
    public var watchFiles = true
    /// Offer HTTP/2 in the TLS handshake (ALPN `h2`, then `http/1.1`); without TLS the
    /// gateway speaks HTTP/1.1 only.
    public var http2 = true

    public struct TLSSettings: Sendable, Equatable {
        public var certificate: String
        public var privateKey: String
        public var minVersion: String
    }

    public struct Limits: Sendable, Equatable {
        public var maxHeaderBytes = 16384
        public var maxBodyBytes = 10_485_760
        public var headerTimeoutSeconds: Double = 10
        public var idleTimeoutSeconds: Double = 60
        /// Responses the guard must check are buffered up to this size.
        public var maxCheckedResponseBytes = 33_554_432
        /// A request body must arrive within this time of its head (slow-body senders).
        public var bodyTimeoutSeconds: Double = 30
        /// A client that takes no response bytes for this long (its socket stays full) is
        /// disconnected (slow readers would otherwise hold an upstream connection forever).
        public var sendTimeoutSeconds: Double = 60
        /// Open client connections, in all and from one IP address; over either, a new
        /// connection is closed at once (before TLS).
        public var maxConnections = 20_000
        public var maxConnectionsPerIP = 1_000
    }
}

public struct AdminSettings: Sendable {
    public var listen: ListenAddress
}

public struct AuthSettings: Sendable {
    public var issuers: [IssuerSettings]
    public var clockSkewSeconds: Double
}

public struct RateLimitSettings: Sendable {
    public enum OnRedisError: String, Sendable {
        /// Let the request through unlimited.
        case allow
        /// Refuse it (503).
        case deny
        /// Fall back to this instance's in-process limiter.
        case local
    }

    /// `redis://…`; nil means the in-process limiter.
    public var redis: String?
    public var onRedisError: OnRedisError = .local
    public var keyPrefix = "fhirgate"
    public var commandTimeoutMilliseconds = 100
}

public struct AuditSettings: Sendable {
    public enum OnFailure: String, Sendable {
        /// New requests get 503 until records can be written again.
        case deny
        /// Requests keep being served; records wait in the queue and are retried.
        case allow
    }

    public var path: String
    public var fsync: String
    public var onFailure: OnFailure = .deny
    /// Built-in rotation by size; nil leaves rotation to logrotate (SIGUSR1).
    public var rotateBytes: Int?
    /// `jsonl` (default) or `balp` (one FHIR AuditEvent per line).
    public var format = "jsonl"
    /// A second sink: RFC 5424 over UDP, `udp://host:port`.
    public var syslog: String?
}

public struct RouteSettings: Sendable {
    public enum UpstreamAuthorization: Sendable, Equatable {
        case pass
        case strip
        /// Replace the client's Authorization with the contents of a credential file.
        case replace(credentialFile: String)
    }

    public var name: String
    /// The public FHIR base; its path is the route prefix and tokens' `aud` must equal it.
    public var baseURL: String
    public var basePath: [String]
    public var host: String?
    public var upstream: String
    /// The base the upstream writes in its own answers when that is not `upstream`
    /// (HAPI's `server_address` behind a balancer): its links, references, `Location`
    /// and Bulk URLs name it, and mean the upstream.
    public var upstreamAdvertisedBase: String?
    public var policyFile: String?
    public var upstreamAuthorization: UpstreamAuthorization
    public var upstreamTLS: UpstreamTLS
    public var connectTimeoutSeconds: Double
    public var readTimeoutSeconds: Double

    public struct UpstreamTLS: Sendable, Equatable {
        public var caBundle: String?
        public var certificate: String?
        public var privateKey: String?
    }

    /// The bases under which the upstream's answers name its own resources.
    public var upstreamBases: [String] { [upstream] + (upstreamAdvertisedBase.map { [$0] } ?? []) }

    /// `url` with an advertised-base prefix put back on the configured upstream (which the
    /// gateway's upstream client reaches); any other URL unchanged.
    public func upstreamURL(_ url: String) -> String {
        guard let advertised = upstreamAdvertisedBase, url.utf8.starts(with: advertised.utf8) else { return url }
        let rest = Substring(url.utf8.dropFirst(advertised.utf8.count))
        guard rest.isEmpty || rest.hasPrefix("/") || rest.hasPrefix("?") else { return url }
        return upstream + rest
    }
}
