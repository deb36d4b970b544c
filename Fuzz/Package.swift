// swift-tools-version:6.2
// libFuzzer targets: the request-side decisions (FuzzRequest), the policy loader
// (FuzzPolicy) and the RESP reader glue (FuzzRESP). Built apart from the main package, with
// `-sanitize=fuzzer,address` on the command line so that FHIRGateCore itself carries the
// coverage instrumentation (see the Makefile):
//   make fuzz            (10 minutes)      make fuzz-smoke   (CI: a few seconds)
import PackageDescription

let package = Package(
    name: "fhirgate-fuzz",
    dependencies: [.package(name: "fhirgate", path: "..")],
    targets: [
        .target(name: "FuzzSupport"),
        .executableTarget(
            name: "FuzzRequest",
            dependencies: ["FuzzSupport", .product(name: "FHIRGateCore", package: "fhirgate")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
        // The policy loader (YAML → compiled policy) and what it compiles.
        .executableTarget(
            name: "FuzzPolicy",
            dependencies: ["FuzzSupport", .product(name: "FHIRGateServer", package: "fhirgate"), .product(name: "FHIRGateCore", package: "fhirgate")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
        // The glue around hiredis's RESP reader and the command formatter.
        .executableTarget(
            name: "FuzzRESP",
            dependencies: ["FuzzSupport", .product(name: "FHIRGateRedis", package: "fhirgate")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
    ]
)
