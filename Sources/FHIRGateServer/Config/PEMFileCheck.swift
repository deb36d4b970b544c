import NIOSSL

/// Certificate and key files are read as TLS will read them, at check time: a file that
/// exists but is not PEM (a DER file, a key with a passphrase, a truncated copy) is then a
/// `file:line:column` error from `fhirgate check` and refuses a reload, instead of a start
/// that fails with the TLS library's bare error and no file name.
extension MappingReader {
    enum PEMContent {
        case certificates, privateKey

        var described: String {
            switch self {
            case .certificates: "a PEM certificate (chain)"
            case .privateKey: "an unencrypted PEM private key"
            }
        }
    }

    /// `existingFile`, then parsed as `content`; nil (reported) when it does not parse.
    func pemFile(_ key: String, holding content: PEMContent, required: Bool = false, hint: String = "") -> String? {
        guard let resolved = existingFile(key, required: required, hint: hint) else { return nil }
        guard document.requireFiles else { return resolved }
        let parses: Bool
        switch content {
        case .certificates: parses = ((try? NIOSSLCertificate.fromPEMFile(resolved)) ?? []).isEmpty == false
        case .privateKey: parses = (try? NIOSSLPrivateKey(file: resolved, format: .pem)) != nil
        }
        guard parses else {
            document.report(node(key), "file '\(string(key) ?? resolved)' for '\(path).\(key)' is not \(content.described)",
                            hint: content == .privateKey ? "remove a passphrase with: openssl pkey -in key.pem -out key-plain.pem" : "convert DER with: openssl x509 -inform der -in cert.der -out cert.pem")
            return nil
        }
        return resolved
    }
}
