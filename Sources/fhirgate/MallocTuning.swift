import Foundation

/// glibc's allocator gives the top of its heap back to the kernel once more than
/// `M_TRIM_THRESHOLD` of it is free, and serves blocks above a (self-adjusting) size with
/// fresh `mmap`s. A request's large buffers — a checked response gathered, read and
/// rebuilt (60 KB each), the reader's node buffer — were freed and allocated again on
/// every request, and each time the kernel faulted in new zeroed pages: on the 60 KB search
/// whose Bundle the guard rebuilds, page faults were 6.5 % of the gateway's samples (none
/// with these thresholds; 517 → 381 CPU µs per request in that pair of runs). Fixed
/// thresholds keep that memory in the process for reuse (a few MB per allocator arena at
/// most). `MALLOC_TRIM_THRESHOLD_` / `MALLOC_MMAP_THRESHOLD_` in the environment still win.
enum MallocTuning {
    static let trimThreshold: Int32 = 8 << 20
    static let mmapThreshold: Int32 = 4 << 20

    static func apply() {
        #if os(Linux)
        let environment = ProcessInfo.processInfo.environment
        guard environment["MALLOC_TRIM_THRESHOLD_"] == nil, environment["MALLOC_MMAP_THRESHOLD_"] == nil,
              let symbol = dlsym(dlopen(nil, RTLD_NOW), "mallopt") else { return }
        // Not in Swift's Glibc module; `int mallopt(int param, int value)`.
        typealias MallOpt = @convention(c) (Int32, Int32) -> Int32
        let mallopt = unsafeBitCast(symbol, to: MallOpt.self)
        _ = mallopt(-1, trimThreshold) // M_TRIM_THRESHOLD
        _ = mallopt(-3, mmapThreshold) // M_MMAP_THRESHOLD
        #endif
    }
}
