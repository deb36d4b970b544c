// swift-tools-version:6.2
// libFuzzer targets for the pure decision module. Built apart from the main package, with
// `-sanitize=fuzzer,address` on the command line so that FHIRGateCore itself carries the
// coverage instrumentation (see the Makefile):
//   make fuzz            (10 minutes)      make fuzz-smoke   (CI: a few seconds)
import PackageDescription

let package = Package(
    name: "fhirgate-fuzz",
    dependencies: [.package(name: "fhirgate", path: "..")],
    targets: [
        .executableTarget(
            name: "FuzzRequest",
            dependencies: [.product(name: "FHIRGateCore", package: "fhirgate")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
    ]
)
