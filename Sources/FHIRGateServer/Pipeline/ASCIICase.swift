/// Header names and auth schemes compare ASCII case-insensitively; comparing bytes in
/// place spares the lower-cased copy `lowercased()` makes on every request.
enum ASCIICase {
    static func equal(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).allSatisfy { x, y in fold(x) == fold(y) }
    }

    @inline(__always) static func fold(_ c: UInt8) -> UInt8 { c >= 0x41 && c <= 0x5A ? c | 0x20 : c }
}
