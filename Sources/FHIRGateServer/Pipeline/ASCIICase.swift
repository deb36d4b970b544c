/// Header names and auth schemes compare ASCII case-insensitively; comparing bytes in
/// place spares the lower-cased copy `lowercased()` makes on every request.
enum ASCIICase {
    static func equal(_ a: String, _ b: String) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        // Contiguous bytes: iterating two UTF8Views in step is several times slower.
        var a = a, b = b
        return a.withUTF8 { x in b.withUTF8 { y in equal(x, y) } }
    }

    static func equal(_ a: Substring, _ b: String) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        var a = a, b = b
        return a.withUTF8 { x in b.withUTF8 { y in equal(x, y) } }
    }

    static func equal(_ a: UnsafeBufferPointer<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        var i = 0
        for y in b {
            if fold(a[i]) != fold(y) { return false }
            i += 1
        }
        return true
    }

    @inline(__always) static func fold(_ c: UInt8) -> UInt8 { c >= 0x41 && c <= 0x5A ? c | 0x20 : c }
}
