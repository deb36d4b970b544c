import FHIRGateAuth
import FHIRGateAudit
import FHIRGateCore
import FHIRGateRedis
import Foundation
import Yams

/// Reads and validates a config file (and the policy files it names, with their tests)
/// completely before anything uses it; `fhirgate check`, start-up and reload share this
/// one path.
public enum ConfigLoader {
    /// - Parameter requireFiles: false to read a config whose certificates and key files
    ///   live on another machine (policies are still loaded and tested).
    public static func load(file: String, requireFiles: Bool = true) throws(ConfigErrors) -> (GatewayConfig, [String: PolicyFile]) {
        let text = try ConfigDiagnostic.readText(file, kind: "config file")
        let doc = YAMLDocument(file: file)
        doc.requireFiles = requireFiles
        let config = parse(doc, text: text)
        var policies: [String: PolicyFile] = [:]
        if let config {
            for route in config.routes {
                guard let path = route.policyFile, policies[path] == nil else { continue }
                do {
                    let policy = try PolicyFile.load(file: path)
                    // A policy is only taken with its tests passing.
                    if let tests = policy.testsFile {
                        let suite = try PolicyTestSuite.load(file: tests)
                        doc.absorb(PolicyTestRunner.run(suite, policy: policy).failures)
                    }
                    policies[path] = policy
                } catch {
                    doc.absorb(error.diagnostics)
                }
            }
        }
        guard doc.diagnostics.isEmpty, let config else { throw ConfigErrors(doc.diagnostics) }
        return (config, policies)
    }

    static func parse(_ doc: YAMLDocument, text: String) -> GatewayConfig? {
        guard let root = doc.root(text: text) else {
            if doc.diagnostics.isEmpty { doc.report(line: 1, column: 1, "the config file is empty", hint: "start from Config/fhirgate.yaml") }
            return nil
        }
        guard let top = doc.mapping(root, at: "(top level)", keys: ["server", "admin", "auth", "rate_limit", "audit", "routes"]) else { return nil }

        // server
        var server: ServerSettings?
        if let s = doc.mapping(top.node("server"), at: "server", keys: ["listen", "tls", "limits", "drain_timeout_seconds", "page_link_secret_file", "watch_files", "http2"]) {
            let listen = s.string("listen", required: true, hint: "e.g. listen: \"0.0.0.0:443\"").flatMap { text -> ListenAddress? in
                guard let a = ListenAddress.parse(text) else { doc.report(s.node("listen"), "'server.listen' must be host:port", hint: "e.g. \"0.0.0.0:443\""); return nil }
                return a
            }
            var tls: ServerSettings.TLSSettings?
            if let t = doc.mapping(s.node("tls"), at: "server.tls", keys: ["certificate", "private_key", "min_version"]) {
                let cert = t.pemFile("certificate", holding: .certificates, required: true, hint: "a PEM certificate chain file")
                let key = t.pemFile("private_key", holding: .privateKey, required: true, hint: "a PEM private key file")
                let min = t.string("min_version") ?? "1.2"
                if !["1.2", "1.3"].contains(min) { doc.report(t.node("min_version"), "'server.tls.min_version' must be \"1.2\" or \"1.3\"", hint: "TLS 1.0 and 1.1 are not supported") }
                if let cert, let key {
                    let settings = ServerSettings.TLSSettings(certificate: cert, privateKey: key, minVersion: min)
                    // Both files parse (checked above), so the context the gateway will build
                    // fails only when the key is not the certificate's.
                    if doc.requireFiles, (try? GatewaySnapshot.makeSSLContext(settings, http2: true)) == nil {
                        doc.report(t.node("private_key"), "the private key in '\(t.string("private_key") ?? key)' does not belong to the certificate in '\(t.string("certificate") ?? cert)'",
                                   hint: "compare: openssl x509 -noout -pubkey -in CERT and openssl pkey -pubout -in KEY")
                    } else {
                        tls = settings
                    }
                }
            }
            var limits = ServerSettings.Limits()
            if let l = doc.mapping(s.node("limits"), at: "server.limits",
                                   keys: ["max_header_bytes", "max_body_bytes", "header_timeout_seconds", "idle_timeout_seconds", "max_checked_response_bytes",
                                          "body_timeout_seconds", "send_timeout_seconds", "max_connections", "max_connections_per_ip"]) {
                limits.sendTimeoutSeconds = l.double("send_timeout_seconds", range: 0.01...3600) ?? limits.sendTimeoutSeconds
                limits.bodyTimeoutSeconds = l.double("body_timeout_seconds", range: 0.01...3600) ?? limits.bodyTimeoutSeconds
                limits.maxConnections = l.int("max_connections", range: 1...1_000_000) ?? limits.maxConnections
                limits.maxConnectionsPerIP = l.int("max_connections_per_ip", range: 1...1_000_000) ?? limits.maxConnectionsPerIP
                limits.maxHeaderBytes = l.int("max_header_bytes", range: 1024...1_048_576) ?? limits.maxHeaderBytes
                limits.maxBodyBytes = l.int("max_body_bytes", range: 0...(1 << 40)) ?? limits.maxBodyBytes
                limits.headerTimeoutSeconds = l.double("header_timeout_seconds", range: 0.01...3600) ?? limits.headerTimeoutSeconds
                limits.idleTimeoutSeconds = l.double("idle_timeout_seconds", range: 0.01...86400) ?? limits.idleTimeoutSeconds
                limits.maxCheckedResponseBytes = l.int("max_checked_response_bytes", range: 1024...(1 << 34)) ?? limits.maxCheckedResponseBytes
            }
            let drain = s.double("drain_timeout_seconds", range: 0...3600) ?? 30
            let secret = s.existingFile("page_link_secret_file")
            // Read (and so checked) even when an error above leaves no settings to build.
            let watchFiles = s.bool("watch_files") ?? true
            let http2 = s.bool("http2") ?? true
            if let listen, (!s.has("tls") || tls != nil) {
                server = ServerSettings(listen: listen, tls: tls, limits: limits, drainTimeoutSeconds: drain, pageLinkSecretFile: secret)
                server?.watchFiles = watchFiles
                server?.http2 = http2
            }
        } else if !top.has("server") {
            top.missing("server", hint: "add a 'server:' section with 'listen:' and 'tls:'")
        }

        // admin
        var admin: AdminSettings?
        if let a = doc.mapping(top.node("admin"), at: "admin", keys: ["listen"]) {
            if let text = a.string("listen", required: true, hint: "e.g. \"127.0.0.1:9090\"") {
                if let addr = ListenAddress.parse(text) {
                    admin = AdminSettings(listen: addr)
                    if let publicAddress = server?.listen, addr.overlaps(publicAddress) {
                        doc.report(a.node("listen"), "'admin.listen' (\(addr)) takes the port of 'server.listen' (\(publicAddress))",
                                   hint: "the admin endpoints (metrics, readiness) need a port of their own, e.g. \"127.0.0.1:9090\"")
                    }
                } else {
                    doc.report(a.node("listen"), "'admin.listen' must be host:port")
                }
            }
        }

        // auth
        var issuers: [IssuerSettings] = []
        var skew: Double = 60
        if let a = doc.mapping(top.node("auth"), at: "auth", keys: ["issuers", "clock_skew_seconds"]) {
            skew = a.double("clock_skew_seconds", range: 0...600) ?? 60
            for (i, node) in (a.sequence("issuers") ?? []).enumerated() {
                if let issuer = parseIssuer(doc, node, at: "auth.issuers[\(i)]") { issuers.append(issuer) }
            }
        }

        // rate_limit
        var rateLimit = RateLimitSettings(redis: nil)
        if let r = doc.mapping(top.node("rate_limit"), at: "rate_limit", keys: ["redis", "on_redis_error", "key_prefix", "command_timeout_ms"]) {
            if let url = r.string("redis") {
                if RedisURL(url) != nil { rateLimit.redis = url } else {
                    doc.report(r.node("redis"), "'rate_limit.redis' must be a redis:// or rediss:// URL", hint: "e.g. redis://127.0.0.1:6379/0")
                }
            }
            if let mode = r.string("on_redis_error") {
                if let m = RateLimitSettings.OnRedisError(rawValue: mode) { rateLimit.onRedisError = m } else {
                    doc.report(r.node("on_redis_error"), "'rate_limit.on_redis_error' must be allow, deny or local")
                }
            }
            rateLimit.keyPrefix = r.string("key_prefix") ?? rateLimit.keyPrefix
            rateLimit.commandTimeoutMilliseconds = r.int("command_timeout_ms", range: 1...10_000) ?? rateLimit.commandTimeoutMilliseconds
        }

        // audit
        var audit: AuditSettings?
        if let a = doc.mapping(top.node("audit"), at: "audit", keys: ["path", "fsync", "on_audit_failure", "rotate_bytes", "format", "syslog"]) {
            let fsync = a.string("fsync") ?? "interval"
            if !["always", "interval", "never"].contains(fsync) { doc.report(a.node("fsync"), "'audit.fsync' must be always, interval or never") }
            var onFailure = AuditSettings.OnFailure.deny
            if let text = a.string("on_audit_failure") {
                if let m = AuditSettings.OnFailure(rawValue: text) { onFailure = m } else {
                    doc.report(a.node("on_audit_failure"), "'audit.on_audit_failure' must be deny or allow")
                }
            }
            let rotate = a.int("rotate_bytes", range: 4096...(1 << 40))
            if let p = a.string("path", required: true, hint: "e.g. /var/log/fhirgate/audit.jsonl") {
                audit = AuditSettings(path: doc.resolve(p), fsync: fsync, onFailure: onFailure, rotateBytes: rotate)
            }
            if let format = a.string("format") {
                if ["jsonl", "balp"].contains(format) { audit?.format = format } else {
                    doc.report(a.node("format"), "'audit.format' must be jsonl or balp", hint: "balp writes FHIR AuditEvents (IHE BALP)")
                }
            }
            if let syslog = a.string("syslog") {
                if SyslogSink(url: syslog) != nil { audit?.syslog = syslog } else {
                    doc.report(a.node("syslog"), "'audit.syslog' must be udp://IPv4:port", hint: "e.g. udp://127.0.0.1:514")
                }
            }
        } else if !top.has("audit") {
            top.missing("audit", hint: "every request is audited: add 'audit: { path: … }'")
        }

        // routes
        var routes: [RouteSettings] = []
        if let list = top.sequence("routes") {
            if list.isEmpty { doc.report(top.node("routes"), "'routes' must name at least one route") }
            for (i, node) in list.enumerated() {
                if let r = parseRoute(doc, node, at: "routes[\(i)]") {
                    if routes.contains(where: { $0.name == r.name }) { doc.report(node, "duplicate route name '\(r.name)'", hint: "route names must be unique") }
                    if routes.contains(where: { $0.basePath == r.basePath && $0.host == r.host }) {
                        doc.report(node, "route '\(r.name)' has the same base_url as another route", hint: "give each route its own public base URL")
                    }
                    routes.append(r)
                }
            }
        } else if !top.has("routes") {
            top.missing("routes", hint: "add at least one route with name, base_url and upstream")
        }

        guard doc.diagnostics.isEmpty, let server, let audit else { return nil }
        return GatewayConfig(file: doc.file, server: server, admin: admin, auth: AuthSettings(issuers: issuers, clockSkewSeconds: skew),
                             rateLimit: rateLimit, audit: audit, routes: routes)
    }

    static func parseIssuer(_ doc: YAMLDocument, _ node: Node, at path: String) -> IssuerSettings? {
        guard let m = doc.mapping(node, at: path, keys: ["issuer", "jwks_uri", "jwks_file", "algorithms", "rsa_algorithm", "patient_claim",
                                                      "fhir_user_claim", "encounter_claim", "require_at_jwt", "max_token_lifetime_seconds",
                                                      "introspection", "keys_refresh_seconds", "keys_min_refresh_seconds",
                                                      "keys_max_refresh_seconds", "keys_max_stale_seconds"]) else { return nil }
        let issuer = m.string("issuer", required: true, hint: "the exact 'iss' of the tokens")
        var source: IssuerSettings.KeySource?
        if let uri = m.string("jwks_uri") {
            if uri.hasPrefix("https://") || uri.hasPrefix("http://127.0.0.1") || uri.hasPrefix("http://localhost") { source = .jwksURI(uri) } else {
                doc.report(m.node("jwks_uri"), "'\(path).jwks_uri' must be an https:// URL", hint: "keys are fetched over TLS")
            }
        }
        if m.has("jwks_file") {
            if source != nil { doc.report(m.node("jwks_file"), "give either jwks_uri or jwks_file, not both") }
            if let f = m.existingFile("jwks_file") { source = .jwksFile(f) }
        }
        var introspection: IntrospectionClient.Settings?
        if let i = doc.mapping(m.node("introspection"), at: "\(path).introspection",
                               keys: ["endpoint", "client_id", "client_secret_file", "cache_seconds", "negative_cache_seconds", "timeout_seconds"]) {
            let endpoint = i.string("endpoint", required: true, hint: "the RFC 7662 introspection URL")
            let clientID = i.string("client_id", required: true, hint: "the gateway's client id at the authorization server")
            let secretFile = i.existingFile("client_secret_file", required: true, hint: "a file holding the client secret")
            if let endpoint, let clientID, let secretFile,
               let secret = try? String(contentsOfFile: secretFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) {
                introspection = IntrospectionClient.Settings(endpoint: endpoint, clientID: clientID, clientSecret: secret,
                                                             cacheSeconds: i.double("cache_seconds", range: 0...3600) ?? 300,
                                                             negativeCacheSeconds: i.double("negative_cache_seconds", range: 0...600) ?? 10,
                                                             timeoutSeconds: i.double("timeout_seconds", range: 0.05...60) ?? 2)
            }
        }
        if source == nil && !m.has("jwks_uri") && !m.has("jwks_file") && !m.has("introspection") {
            m.missing("jwks_uri", hint: "add jwks_uri: https://…/jwks, jwks_file: PATH, or introspection: {…}")
        }
        if source == nil && introspection != nil { source = .introspectionOnly }
        let supported: Set<String> = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]
        var algorithms = IssuerSettings.defaultAlgorithms
        if let list = m.stringList("algorithms") {
            for a in list where !supported.contains(a) {
                doc.report(m.node("algorithms"), "unsupported algorithm '\(a)' in '\(path).algorithms'", hint: "one of \(supported.sorted().joined(separator: ", "))")
            }
            algorithms = Set(list)
        }
        let rsa = m.string("rsa_algorithm") ?? "RS256"
        let lifetime = m.double("max_token_lifetime_seconds", range: 1...86400 * 30)
        guard let issuer, let source else { return nil }
        var settings = IssuerSettings(issuer: issuer, keySource: source, algorithms: algorithms, rsaAlgorithm: rsa,
                              patientClaim: m.string("patient_claim") ?? "patient", fhirUserClaim: m.string("fhir_user_claim") ?? "fhirUser",
                              encounterClaim: m.string("encounter_claim") ?? "encounter", requireATJWT: m.bool("require_at_jwt") ?? false,
                              maxLifetimeSeconds: lifetime, introspection: introspection)
        settings.keysRefreshSeconds = m.double("keys_refresh_seconds", range: 1...604_800) ?? settings.keysRefreshSeconds
        settings.keysMinimumRefreshSeconds = m.double("keys_min_refresh_seconds", range: 1...604_800) ?? settings.keysMinimumRefreshSeconds
        settings.keysMaximumRefreshSeconds = m.double("keys_max_refresh_seconds", range: 1...604_800) ?? settings.keysMaximumRefreshSeconds
        settings.keysMaxStaleSeconds = m.double("keys_max_stale_seconds", range: 60...2_592_000) ?? settings.keysMaxStaleSeconds
        return settings
    }

    static func parseRoute(_ doc: YAMLDocument, _ node: Node, at path: String) -> RouteSettings? {
        guard let m = doc.mapping(node, at: path, keys: ["name", "base_url", "upstream", "upstream_advertised_base", "policy", "upstream_authorization",
                                                      "upstream_credential_file", "upstream_tls", "connect_timeout_seconds", "read_timeout_seconds"]) else { return nil }
        let name = m.string("name", required: true, hint: "e.g. patient-facing")
        let base = m.string("base_url", required: true, hint: "the public FHIR base, e.g. https://fhir.example.org/r4")
        let upstream = m.string("upstream", required: true, hint: "the EHR's FHIR base, e.g. https://ehr.internal/fhir")
        var basePath: [String] = []
        var host: String?
        if let base {
            guard let url = URL(string: base), let scheme = url.scheme, ["https", "http"].contains(scheme), url.host != nil,
                  url.query == nil, !base.hasSuffix("/") else {
                doc.report(m.node("base_url"), "'\(path).base_url' must be an absolute http(s) URL without query or trailing '/'")
                return nil
            }
            host = url.host
            basePath = url.path.split(separator: "/").map(String.init)
        }
        if let upstream {
            if !Self.isUpstreamBase(upstream) {
                doc.report(m.node("upstream"), "'\(path).upstream' must be an absolute http(s) URL (a host, a port from 1 to 65535 if any, no user info) without a trailing '/'")
            }
        }
        let policy = m.existingFile("policy")
        var mode = RouteSettings.UpstreamAuthorization.pass
        let advertised = m.string("upstream_advertised_base")
        if let advertised, !Self.isUpstreamBase(advertised) || advertised == upstream {
            doc.report(m.node("upstream_advertised_base"), "'\(path).upstream_advertised_base' must be an absolute http(s) URL without a trailing '/', other than 'upstream'",
                       hint: "the base the upstream writes in its own links (HAPI: server_address)")
        }
        switch m.string("upstream_authorization") ?? "pass" {
        case "pass": mode = .pass
        case "strip": mode = .strip
        case "replace":
            if let f = m.existingFile("upstream_credential_file", required: true, hint: "a file holding the Authorization value to send upstream") {
                // Read as the route will read it: an empty or binary file would send a
                // credential the upstream refuses, request after request.
                if doc.requireFiles, (try? String(contentsOfFile: f, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty != false {
                    doc.report(m.node("upstream_credential_file"), "file '\(m.string("upstream_credential_file") ?? f)' for '\(path).upstream_credential_file' is empty or not UTF-8 text",
                               hint: "it holds the whole Authorization value, e.g. 'Bearer eyJ…' or 'Basic dXNlcjpwYXNz'")
                } else {
                    mode = .replace(credentialFile: f)
                }
            }
        default:
            doc.report(m.node("upstream_authorization"), "'\(path).upstream_authorization' must be pass, strip or replace")
        }
        var tls = RouteSettings.UpstreamTLS()
        if let t = doc.mapping(m.node("upstream_tls"), at: "\(path).upstream_tls", keys: ["ca_bundle", "certificate", "private_key"]) {
            tls.caBundle = t.pemFile("ca_bundle", holding: .certificates)
            tls.certificate = t.pemFile("certificate", holding: .certificates)
            tls.privateKey = t.pemFile("private_key", holding: .privateKey)
            if (tls.certificate == nil) != (tls.privateKey == nil) && t.has("certificate") != t.has("private_key") {
                doc.report(t.node, "a client certificate needs both 'certificate' and 'private_key'")
            }
        }
        let connect = m.double("connect_timeout_seconds", range: 0.01...600) ?? 5
        let read = m.double("read_timeout_seconds", range: 0.01...3600) ?? 60
        guard let name, let base, let upstream else { return nil }
        return RouteSettings(name: name, baseURL: base, basePath: basePath, host: host, upstream: upstream, upstreamAdvertisedBase: advertised, policyFile: policy,
                             upstreamAuthorization: mode, upstreamTLS: tls, connectTimeoutSeconds: connect, readTimeoutSeconds: read)
    }

    /// An absolute http(s) base without a trailing `/` that the upstream client can read.
    /// The client's own reading of the URL decides, so what passes here is what the
    /// gateway can connect to.
    static func isUpstreamBase(_ url: String) -> Bool {
        UpstreamOrigin(url: url) != nil && (url.hasPrefix("https://") || url.hasPrefix("http://")) && !url.hasSuffix("/")
    }

}
