import FHIRGateCore
import Synchronization

/// Request ids in UUID form (version 4 layout) without a system call per request:
/// Foundation's `UUID()` opened and read /dev/urandom on every call here (two system
/// calls and a file descriptor per request, seen in `strace`). A random 128-bit key is
/// drawn once per process; each id is a counter pushed through SplitMix64 under that key,
/// so ids practically never repeat (the SplitMix64 finaliser is a bijection; only the 6
/// UUID version and variant bits are fixed) and differ from process to process.
enum RequestID {
    private static let key: (UInt64, UInt64) = {
        var generator = SystemRandomNumberGenerator()
        return (generator.next(), generator.next())
    }()

    private static let counter = Atomic<UInt64>(0)

    static func next() -> String {
        let n = counter.add(1, ordering: .relaxed).newValue
        // 32 nibbles with the version (4) and variant (8...b) of a UUID v4.
        let high = (mix(n ^ key.0) & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000
        let low = (mix(n &+ key.1) & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000
        var bytes = [UInt8]()
        bytes.reserveCapacity(36)
        for k in 0..<32 {
            if k == 8 || k == 12 || k == 16 || k == 20 { bytes.append(0x2D) }
            let word = k < 16 ? high : low
            bytes.append(Hex.digit(word >> UInt64(60 - 4 * (k % 16))))
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// SplitMix64's finaliser: a bijection, so distinct counters give distinct ids.
    private static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
