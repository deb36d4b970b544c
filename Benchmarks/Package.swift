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
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
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
        // A bare TLS proxy on the gateway's own stack: the load benchmark's floor peer.
        .executableTarget(
            name: "NIOFloorProxy",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
    ]
)
