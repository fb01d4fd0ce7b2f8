// swift-tools-version:6.1
// Linux only (libevent, hiredis and the Linux socket calls of CRelayShims): no platforms list.
import PackageDescription

let package = Package(
    name: "relay",
    products: [
        .executable(name: "relay", targets: ["relay"]),
        .executable(name: "relay-echo-worker", targets: ["relay-echo-worker"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        // 0.x: minor versions may break the API.
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", .upToNextMinor(from: "0.2.0")),
    ],
    targets: [
        // C libraries from Debian packages, found through pkg-config.
        .systemLibrary(name: "CLibevent", pkgConfig: "libevent", providers: [.apt(["libevent-dev"])]),
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        // HTTP/2 framing, HPACK and flow control for the relay's HTTP/2 server (and the load
        // tester's HTTP/2 client).
        .systemLibrary(name: "CNghttp2", pkgConfig: "libnghttp2", providers: [.apt(["libnghttp2-dev"])]),
        // Wraps macros and variadic C calls Swift cannot make directly.
        .target(
            name: "CRelayShims",
            dependencies: ["CLibevent"],
            cSettings: [.define("_GNU_SOURCE")],
            // TLS for the HTTP server: OpenSSL (Debian libssl-dev) through libevent's OpenSSL bufferevents.
            linkerSettings: [.linkedLibrary("event_openssl"), .linkedLibrary("ssl"), .linkedLibrary("crypto")]
        ),
        // The wire formats the HTTP server reads (request heads, chunked bodies, percent
        // escapes): pure Swift with no imports at all, so that RelayIO can use it without
        // pulling Foundation's modules in next to libevent's (their fd_set disagree).
        .target(name: "RelayWire"),
        // Pure logic: no C, no I/O.
        .target(
            name: "RelayCore",
            dependencies: ["RelayWire", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // The thin unsafe layer: libevent loop, HTTP server, the Redis connection (hiredis' reply reader).
        // All UnsafePointer, Unmanaged and C callbacks live here (see RelayIO/Interop.md).
        .target(
            name: "RelayIO",
            dependencies: ["RelayWire", "CRelayShims", "CHiredis", "CLibevent", "CNghttp2"],
            exclude: ["Interop.md"]
        ),
        // The Redis client: connections (one RedisNode per endpoint), cluster routing, sharded
        // pub/sub. Knows nothing of sessions.
        .target(
            name: "RelayRedis",
            dependencies: ["RelayIO", .product(name: "Logging", package: "swift-log"),
                           .product(name: "Metrics", package: "swift-metrics")]
        ),
        // The relay's storage on Redis: keys, Lua scripts and their typed replies, the stores,
        // the sweepers, the fan-out seam. The only place the relay's Redis commands are spelled.
        .target(
            name: "RelayStorage",
            dependencies: ["RelayCore", "RelayIO", "RelayRedis", .product(name: "Logging", package: "swift-log"),
                           .product(name: "Metrics", package: "swift-metrics")],
            resources: [.embedInCode("Lua")]
        ),
        // Event loop, HTTP server, handlers.
        .target(
            name: "RelayHTTP",
            dependencies: ["RelayCore", "RelayRedis", "RelayStorage", "RelayIO", .product(name: "Logging", package: "swift-log"),
                           .product(name: "Metrics", package: "swift-metrics")],
            // GET /client.js serves the browser client from the binary (PackageResources.relay_client_js).
            resources: [.embedInCode("../../clients/js/relay-client.js")]
        ),
        .executableTarget(
            name: "relay",
            dependencies: [
                "RelayCore", "RelayIO", "RelayRedis", "RelayStorage", "RelayHTTP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // The example worker of SPEC section 4 (an echo agent).
        .executableTarget(
            name: "relay-echo-worker",
            dependencies: [
                "RelayCore", "RelayIO", "RelayRedis", "RelayStorage",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The load tester: pure parts (stamp scanning, gap detection, histograms) and the tool.
        .target(
            name: "BenchCore",
            dependencies: [.product(name: "Histogram", package: "hdrhistogram-swift")],
            path: "Benchmarks/BenchCore"
        ),
        .executableTarget(
            name: "relay-bench",
            dependencies: [
                "BenchCore", "RelayIO",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/relay-bench"
        ),
        // Test support shared by the test targets (no relay module: Foundation, XCTest, Glibc):
        // the redis-server and Redis Cluster launchers (the latter drives scripts/dev-cluster),
        // free ports, child processes, bounded waits. Only test targets depend on it.
        .target(name: "RelayTestSupport", path: "Tests/RelayTestSupport"),
        .testTarget(name: "BenchCoreTests", dependencies: ["BenchCore"]),
        // The HTTP server over real sockets on a real loop, without the relay: streamed
        // request bodies over HTTP/1.1 and HTTP/2 (the client side is RelayIO's HTTP2Client).
        .testTarget(name: "RelayIOTests", dependencies: ["RelayIO"]),
        .testTarget(name: "RelayCoreTests", dependencies: ["RelayCore", "RelayWire"]),
        .testTarget(name: "RelayRedisTests", dependencies: ["RelayRedis", "RelayStorage", "RelayIO", "RelayTestSupport"]),
        // The executable's own parts without processes or sockets: the settings table (against
        // README.md and config/relay.example.yaml) and the order services start and stop in.
        .testTarget(name: "RelayTests", dependencies: ["relay", "RelayIO", .product(name: "Logging", package: "swift-log")]),
        // The fan-out (hub, feeds, subscribers) against in-memory fakes of Redis and the sockets.
        .testTarget(name: "RelayHTTPTests", dependencies: ["RelayHTTP", "RelayCore", "RelayIO", "RelayRedis", "RelayStorage"]),
        .testTarget(name: "RelayIntegrationTests", dependencies: ["RelayCore", "RelayTestSupport", "relay", "relay-echo-worker", "relay-bench"]),
    ],
    swiftLanguageModes: [.v5]
)
