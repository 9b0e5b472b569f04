// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

let package = Package(
    name: "qr3-webhookd",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "qr3-webhookd", targets: ["qr3-webhookd"])
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // C libraries, reached through module maps and small non-variadic shims.
        .systemLibrary(
            name: "CQR3Curl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .systemLibrary(
            name: "CQR3PQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .systemLibrary(
            name: "CQR3OpenSSL",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),

        // Pure domain: events, canonical JSON, signing, retry and lease rules. No I/O.
        .target(
            name: "WebhookCore",
            dependencies: ["CQR3OpenSSL"],
            swiftSettings: swiftSettings
        ),
        // Storage: the backend-neutral seam, the WebhookStore protocol, its models and errors. No database.
        .target(
            name: "WebhookStorage",
            dependencies: [
                "WebhookCore",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The SQLite store (GRDB): one database file in WAL mode, its migrations, its inotify watch.
        .target(
            name: "WebhookSQLite",
            dependencies: [
                "WebhookCore",
                "WebhookStorage",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Storage on PostgreSQL through libpq: several daemons on one database.
        .target(
            name: "WebhookPostgres",
            dependencies: [
                "WebhookCore",
                "WebhookStorage",
                "CQR3PQ",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The one place that names a concrete store: opens the one the `database` setting names,
        // and copies an SQLite database into PostgreSQL (it reads the SQLite file with GRDB).
        .target(
            name: "WebhookStores",
            dependencies: [
                "WebhookStorage",
                "WebhookSQLite",
                "WebhookPostgres",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Delivery: the libcurl multi client that sends signed requests.
        .target(
            name: "WebhookDelivery",
            dependencies: [
                "WebhookCore",
                "CQR3Curl",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The public webhooks API (v1): HTTP routes, API keys, validation, the OpenAPI document.
        .target(
            name: "WebhookAPI",
            dependencies: [
                "WebhookCore",
                "WebhookStorage",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The daemon: ingest and delivery services, configuration, lifecycle.
        .target(
            name: "WebhookDaemon",
            dependencies: [
                "WebhookCore",
                "WebhookStorage",
                "WebhookStores",
                "WebhookDelivery",
                "WebhookAPI",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                // systemd and Prometheus: metrics, and the small metrics listener.
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The thin command line.
        .executableTarget(
            name: "qr3-webhookd",
            dependencies: [
                "WebhookCore",
                "WebhookStorage",
                "WebhookStores",
                "WebhookDaemon",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // `make bench`'s slow receiver: answers after the delay its path names (not shipped).
        .executableTarget(
            name: "bench-receiver",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),

        // Test support: real HTTP receivers on 127.0.0.1, temporary databases, daemon processes.
        .target(
            name: "WebhookTestSupport",
            dependencies: [
                "WebhookCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WebhookCoreTests",
            dependencies: ["WebhookCore", "WebhookTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WebhookStorageTests",
            dependencies: [
                "WebhookCore", "WebhookStorage", "WebhookSQLite", "WebhookPostgres", "WebhookStores", "WebhookTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WebhookDeliveryTests",
            dependencies: ["WebhookCore", "WebhookDelivery", "WebhookTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WebhookAPITests",
            dependencies: [
                "WebhookCore", "WebhookStorage", "WebhookSQLite", "WebhookAPI", "WebhookTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DaemonTests",
            dependencies: [
                "WebhookCore", "WebhookStorage", "WebhookSQLite", "WebhookPostgres", "WebhookDaemon", "WebhookTestSupport",
                "qr3-webhookd", .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
