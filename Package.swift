// swift-tools-version: 6.2
//
// The package layout mirrors the architecture (see docs/architecture.md):
//
//   commands (MasterCommand, AgentCommand)
//     -> roles (Gateway, Registry, CallbackWorker) / AgentCore
//       -> Bus, FleetProtocol, FleetSupport
//         -> ZeroMQ -> CZeroMQ (Debian's libzmq3-dev)
//
// Roles never import each other: they meet only on the bus, which is what lets
// `master serve` (one process, inproc://) and the split deployment (tcp://) be the same code.
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "fleet",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "master", targets: ["MasterCommand"]),
        .executable(name: "agent", targets: ["AgentCommand"]),
        .executable(name: "bench", targets: ["Bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.0.0"..<"5.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.30.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.0.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.1.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.0"),
        // The gateway's own HTTP/1 + WebSocket upgrade channel (NIOHTTPTypes, as Hummingbird's).
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.34.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.1.0"),
        // TLS (issue 10): certificates for `master certs init`, TLS configurations for gateway and agent.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.29.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.0"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.3.0"),
        // Test-only: property tests of the decoders that read untrusted bytes.
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.0"),
    ],
    targets: [
        // MARK: ZeroMQ
        // No `pkgConfig:` on purpose: Debian's libzmq.pc adds `-isystem /usr/include/mit-krb5`,
        // which SwiftPM refuses with a warning on every build. zmq.h lives in /usr/include and
        // the module map links "zmq", so nothing is lost on Debian; on macOS pass
        // -Xcc -I/opt/homebrew/include -Xlinker -L/opt/homebrew/lib.
        .systemLibrary(name: "CZeroMQ"),
        // malloc_trim, which Swift's Glibc module does not export (header-only, nothing to link).
        .systemLibrary(name: "CSystemShims"),
        .target(
            name: "ZeroMQ",
            dependencies: ["CZeroMQ"],
            swiftSettings: swiftSettings
        ),

        // MARK: Shared below the roles
        .target(
            name: "FleetProtocol",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "FleetSupport",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        // PEM loading with clear errors, the TLS configurations of gateway, agent and CLI, and
        // TLS failures explained (issue 10).
        .target(
            name: "FleetTLS",
            dependencies: [.product(name: "NIOSSL", package: "swift-nio-ssl")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Bus",
            dependencies: [
                "ZeroMQ", "FleetProtocol", "FleetSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Master roles
        .target(
            name: "Registry",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Metrics", package: "swift-metrics"),
                "Bus", "FleetProtocol", "FleetSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Gateway",
            dependencies: [
                "CSystemShims", "FleetTLS",
                .product(name: "Metrics", package: "swift-metrics"),
                "Bus", "FleetProtocol", "FleetSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CallbackWorker",
            dependencies: [
                .product(name: "Metrics", package: "swift-metrics"),
                "Bus", "FleetProtocol", "FleetSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "MasterCommand",
            dependencies: [
                "Registry", "Gateway", "CallbackWorker", "Bus", "ZeroMQ", "FleetSupport", "FleetProtocol", "FleetTLS", "Spawn",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Agent
        // fork + execve for `exec` requests: own session and process group, run-as user,
        // clean environment, every other fd closed (Sources/CSpawn/spawn.c says why in C).
        .target(name: "CSpawn"),
        // Child processes of the master, the bench and the tests, on CSpawn instead of
        // Foundation's Process (whose run() crashes now and then on Linux: ChildProcess.swift).
        .target(name: "Spawn", dependencies: ["CSpawn"], swiftSettings: swiftSettings),
        .target(
            name: "AgentCore",
            dependencies: [
                "CSpawn", "FleetProtocol", "FleetSupport", "FleetTLS",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "AgentCommand",
            dependencies: [
                "AgentCore", "FleetSupport", "FleetProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Bench (bench/README.md)
        // The topology runner starts a master (all-in-one or split, optionally one network
        // namespace per role) from the built binaries; the harness drives it with simulated agents.
        .target(
            name: "Topology",
            dependencies: ["Spawn"],
            path: "bench/Sources/Topology",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "Bench",
            dependencies: [
                "Topology", "FleetProtocol", "Spawn",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "bench/Sources/Bench",
            swiftSettings: swiftSettings
        ),

        // MARK: Tests
        .testTarget(
            name: "ZeroMQTests",
            dependencies: ["ZeroMQ"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FleetTests",
            dependencies: [
                "FleetProtocol", "FleetSupport", "FleetTLS", "AgentCore", "Registry", "Gateway", "CallbackWorker", "Bus", "ZeroMQ", "Spawn",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "FleetProtocol", "Topology", "Spawn",
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                // An HTTPS client with a private CA, for the TLS tests.
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
