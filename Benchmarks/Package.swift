// swift-tools-version:6.2
// Hot-path micro-benchmarks, built in release mode apart from the main package:
//   make bench     (or: swift run -c release --package-path Benchmarks HotPathBenchmarks)
import PackageDescription

let package = Package(
    name: "fhirgate-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "fhirgate", path: ".."),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
    ],
    targets: [
        .executableTarget(
            name: "HotPathBenchmarks",
            dependencies: [
                .product(name: "FHIRGateCore", package: "fhirgate"),
                .product(name: "FHIRGateAuth", package: "fhirgate"),
                .product(name: "FHIRGateRedis", package: "fhirgate"),
                .product(name: "FHIRGateDemo", package: "fhirgate"),
                .product(name: "FHIRGateAudit", package: "fhirgate"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
    ]
)
