import Foundation
import NIOCore
import NIOPosix

/// The process entry point. Before any async code runs, the gateway's event loops
/// (NIO's singleton group, which the gateway, its upstream pools and Redis use) become
/// Swift concurrency's global executor: a request's task then resumes on the event
/// loop its connection lives on instead of hopping to a separate cooperative pool and
/// back at every await (measured: the single largest per-request cost, see
/// Benchmarks/RESULTS.md). `FHIRGATE_SWIFT_EXECUTOR=pool` keeps Swift's own pool
/// (for comparison). The number of loops is NIO's `NIO_SINGLETON_GROUP_LOOP_COUNT`
/// (default: one per core).
@main
enum Entry {
    static func main() async {
        MallocTuning.apply()
        if ProcessInfo.processInfo.environment["FHIRGATE_SWIFT_EXECUTOR"] != "pool" {
            NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        }
        await FHIRGateCommand.main()
    }
}
