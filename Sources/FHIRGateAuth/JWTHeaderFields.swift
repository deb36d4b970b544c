import Foundation

/// The JOSE header and claims of a compact JWT, decoded without trusting them yet.
///
/// jwt-kit verifies with the key's algorithm and ignores the header's `alg`, falls back
/// to a default key on an unknown `kid`, and checks no claims: so the gateway reads the
/// header itself and enforces its own rules before and after the signature check.
struct CompactJWT {
    let header: [String: Any]
    let claims: [String: Any]

    init?(_ token: String) {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[2].isEmpty,
              let h = Base64URL.decode(parts[0]), let c = Base64URL.decode(parts[1]),
              let header = (try? JSONSerialization.jsonObject(with: h)) as? [String: Any],
              let claims = (try? JSONSerialization.jsonObject(with: c)) as? [String: Any] else { return nil }
        self.header = header
        self.claims = claims
    }
}

enum Base64URL {
    static func decode(_ s: some StringProtocol) -> Data? {
        var text = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        guard !text.contains("=") || true else { return nil }
        while text.count % 4 != 0 { text += "=" }
        return Data(base64Encoded: text)
    }
}
