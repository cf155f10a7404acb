// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "rpa-orchestrator",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "orchestrator", targets: ["orchestrator"]),
        .executable(name: "worker", targets: ["worker"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // The dashboard's HTTP server (SwiftNIO); without its default traits (no swift-configuration).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.34.1"),
        // Already built as Hummingbird's dependency: the HTTP server's graceful stop (ServiceGroup).
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.0.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CHiredis",
            pkgConfig: "hiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        .target(name: "CShims"),
        .target(
            name: "OrchestratorCore",
            dependencies: [
                "CHiredis", "CShims",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "CLISupport",
            dependencies: [
                "OrchestratorCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "Dashboard",
            dependencies: [
                "OrchestratorCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "orchestrator",
            dependencies: [
                "OrchestratorCore", "CShims", "CLISupport", "Dashboard",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "worker",
            dependencies: [
                "OrchestratorCore", "CShims", "CLISupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "TestSupport", dependencies: ["OrchestratorCore"], path: "Tests/TestSupport"),
        .testTarget(name: "OrchestratorCoreTests", dependencies: ["OrchestratorCore", "CLISupport", "Dashboard", "TestSupport",
                                                                  .product(name: "HummingbirdTesting", package: "hummingbird")]),
        .testTarget(name: "RedisIntegrationTests", dependencies: ["OrchestratorCore", "TestSupport", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "EndToEndTests", dependencies: ["OrchestratorCore", "TestSupport"]),
    ]
)
