import Crypto
import Foundation
import SwiftASN1
import X509

/// A development certificate authority and a server certificate for `localhost` and
/// `127.0.0.1`, made with swift-certificates. For the demo and for tests (which need
/// real certificates made at test time), never for production.
public struct DevPKI: Sendable {
    public let caCertificatePEM: String
    public let serverCertificatePEM: String
    public let serverKeyPEM: String

    public static func generate(commonName: String = "localhost") throws -> DevPKI {
        let now = Date()
        let caKey = P256.Signing.PrivateKey()
        let caName = try DistinguishedName { CommonName("FHIRGate Development CA") }
        let ca = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(86400 * 825),
            issuer: caName, subject: caName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: .init(caKey))
        let serverKey = P256.Signing.PrivateKey()
        let serverName = try DistinguishedName { CommonName(commonName) }
        let server = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(serverKey.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(86400 * 397),
            issuer: caName, subject: serverName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames([.dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))])
            },
            issuerPrivateKey: .init(caKey))
        return DevPKI(caCertificatePEM: try ca.serializeAsPEM().pemString,
                      serverCertificatePEM: try server.serializeAsPEM().pemString,
                      serverKeyPEM: serverKey.pemRepresentation)
    }

    /// Writes `ca.pem`, `server.pem`, `server-key.pem` into `directory`.
    public func write(to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try caCertificatePEM.write(toFile: directory + "/ca.pem", atomically: true, encoding: .utf8)
        try serverCertificatePEM.write(toFile: directory + "/server.pem", atomically: true, encoding: .utf8)
        try serverKeyPEM.write(toFile: directory + "/server-key.pem", atomically: true, encoding: .utf8)
        chmod(directory + "/server-key.pem", 0o600)
    }
}
