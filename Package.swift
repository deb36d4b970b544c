// swift-tools-version:6.2
import PackageDescription

/// Our own targets build with every warning as an error: NIO's `@preconcurrency`
/// APIs turn real data races into warnings, and we want those to stop the build.
let strict: [SwiftSetting] = [.treatAllWarnings(as: .error)]

let package = Package(
    name: "fhirgate",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "fhirgate", targets: ["fhirgate"]),
        .library(name: "FHIRGateCore", targets: ["FHIRGateCore"]),
        // For Benchmarks/ and Fuzz/, which are packages of their own.
        .library(name: "FHIRGateAuth", targets: ["FHIRGateAuth"]),
        .library(name: "FHIRGateRedis", targets: ["FHIRGateRedis"]),
        .library(name: "FHIRGateDemo", targets: ["FHIRGateDemo"]),
        .library(name: "FHIRGateAudit", targets: ["FHIRGateAudit"]),
        .library(name: "FHIRGateServer", targets: ["FHIRGateServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        // HTTP/2 to clients (ALPN h2); AsyncHTTPClient already depends on it.
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    ],
    targets: [
        // Pure decision logic: no NIO, no sockets. Classification, scopes, compartments,
        // authorization decisions and the error → OperationOutcome mapping live here so
        // they can be tested and fuzzed alone.
        .target(name: "FHIRGateCore", swiftSettings: strict),

        // Bearer-token validation (jwt-kit stays inside this module).
        .target(
            name: "FHIRGateAuth",
            dependencies: [
                "FHIRGateCore",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),

        // hiredis as a system library: only its reader and formatter are used, over NIO.
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        .target(
            name: "FHIRGateRedis",
            dependencies: [
                "CHiredis", "FHIRGateCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),

        // The audit trail: record type and its dedicated writer thread.
        .target(
            name: "FHIRGateAudit",
            dependencies: [
                "FHIRGateCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),

        // The network-facing gateway: config, TLS listener, the request phases, upstream
        // forwarding, admin listener, lifecycle.
        .target(
            name: "FHIRGateServer",
            dependencies: [
                "FHIRGateCore", "FHIRGateAuth", "FHIRGateAudit", "FHIRGateRedis",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),

        // Demo and test fixtures that are real parts: a dev CA, dev signing keys, and a
        // small sample FHIR R4 upstream serving generated synthetic data.
        .target(
            name: "FHIRGateDemo",
            dependencies: [
                "FHIRGateCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Resources/sample-data.json")],
            swiftSettings: strict
        ),

        .executableTarget(
            name: "fhirgate",
            dependencies: [
                "FHIRGateServer", "FHIRGateDemo", "FHIRGateCore", "FHIRGateAudit", "FHIRGateRedis",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),

        .testTarget(name: "FHIRGateCoreTests", dependencies: ["FHIRGateCore"]),
        .testTarget(
            name: "FHIRGateAuthTests",
            dependencies: [
                "FHIRGateAuth", "FHIRGateCore", "FHIRGateTestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        // Real services for tests (a redis-server per test), shared by the test targets.
        .target(
            name: "FHIRGateTestSupport",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Tests/TestSupport"
        ),
        .testTarget(
            name: "FHIRGateRedisTests",
            dependencies: [
                "FHIRGateRedis", "FHIRGateCore", "FHIRGateTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "FHIRGateAuditTests", dependencies: ["FHIRGateAudit"]),
        .testTarget(
            name: "FHIRGateServerTests",
            dependencies: [
                "FHIRGateServer", "FHIRGateCore", "FHIRGateRedis", "FHIRGateTestSupport",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "FHIRGateServer", "FHIRGateDemo", "FHIRGateCore", "FHIRGateTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
    ]
)
