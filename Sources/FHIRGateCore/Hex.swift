/// Lower-case hex, without `String(format:)` (slow on Linux, and on the hot path for
/// every token hash and every audit record's chain hash).
public enum Hex {
    @usableFromInline static let digits: StaticString = "0123456789abcdef"

    /// Inlinable so each caller gets it specialised for its digest type: called through
    /// the generic `Sequence` witness it cost the audit thread a metadata lookup per byte.
    @inlinable
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let count = bytes.underestimatedCount
        var out: [UInt8] = []
        out.reserveCapacity(count * 2)
        digits.withUTF8Buffer { table in
            for b in bytes {
                out.append(table[Int(b >> 4)])
                out.append(table[Int(b & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The lower-case hex digit of a nibble (its low four bits).
    @inlinable
    public static func digit(_ nibble: some BinaryInteger) -> UInt8 {
        digits.withUTF8Buffer { $0[Int(nibble & 0xF)] }
    }
}
