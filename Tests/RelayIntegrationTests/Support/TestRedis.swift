// TestRedis.swift: the Redis a RelayTestCase class runs against, chosen by RELAY_TEST_REDIS:
//   (unset) or single  each class starts its own redis-server (RedisServer), as always;
//   cluster            every class shares ONE Redis Cluster (RedisCluster: 3 primaries, 3
//                      replicas), started lazily by the first class that needs it and
//                      stopped when the test bundle finishes (scripts/test --cluster);
//   shared             every class shares one redis-server: the cluster run's sharing without
//                      a cluster, to check that tests isolate by data alone.
// Tests isolate by unique data, never by flushing, so sharing is safe. A test that stops or
// restarts its redis-server skips in the shared modes (RelayTestCase.skipWithSharedRedis).

import XCTest
import Foundation

final class TestRedis {
    enum Mode: String {
        case single, cluster, shared
    }

    /// The mode of this test process (RELAY_TEST_REDIS; anything unknown stops the run).
    static let mode: Mode = {
        let value = ProcessInfo.processInfo.environment["RELAY_TEST_REDIS"] ?? ""
        if value.isEmpty { return .single }
        guard let mode = Mode(rawValue: value) else {
            fatalError("RELAY_TEST_REDIS=\(value): expected single, cluster or shared")
        }
        return mode
    }()

    private enum Backing {
        case server(RedisServer, owned: Bool)
        case cluster(RedisCluster)
    }

    private let backing: Backing

    private init(_ backing: Backing) { self.backing = backing }

    /// What a class gets: its own server in single mode, else the shared one.
    static func forTestClass(persistent: Bool) throws -> TestRedis {
        switch mode {
        case .single:
            let server = try RedisServer(persistent: persistent)
            do {
                try server.start()
            } catch {
                server.destroy()
                throw error
            }
            return TestRedis(.server(server, owned: true))
        case .shared: return try Shared.redis()
        case .cluster: return try Shared.redis()
        }
    }

    /// The URL for `relay serve --redis` (redis:// or redis-cluster://).
    var url: String {
        switch backing {
        case .server(let server, _): return server.url
        case .cluster(let cluster): return cluster.url
        }
    }

    var isCluster: Bool { if case .cluster = backing { return true }; return false }

    /// The cluster (nil in single-instance and shared modes).
    var cluster: RedisCluster? { if case .cluster(let cluster) = backing { return cluster }; return nil }

    /// A new client: a plain connection, or a cluster client that follows redirects.
    func client(timeout: TimeInterval = 5) throws -> RedisClient {
        switch backing {
        case .server(let server, _): return try server.client(timeout: timeout)
        case .cluster(let cluster): return try cluster.client(timeout: timeout)
        }
    }

    /// The class's own redis-server, for tests that stop or restart it; throws in the shared modes.
    func ownServer() throws -> RedisServer {
        guard case .server(let server, owned: true) = backing else {
            throw HarnessError("this test needs a redis-server of its own (RELAY_TEST_REDIS=\(Self.mode.rawValue) shares one);"
                + " skip it with skipWithSharedRedis")
        }
        return server
    }

    /// Called by the class's tearDown: destroys an own server, leaves a shared one running.
    func release() {
        if case .server(let server, owned: true) = backing { server.destroy() }
    }

    // MARK: The shared Redis of this test process

    private enum Shared {
        /// Started once; a start failure is kept so that every class reports it without retrying.
        static var result: Result<TestRedis, Error>?

        static func redis() throws -> TestRedis {
            if let result { return try result.get() }
            let started = Result<TestRedis, Error> {
                switch TestRedis.mode {
                case .cluster:
                    let cluster = try RedisCluster(primaries: 3, nodeTimeoutMilliseconds: 2000)
                    let began = Date()
                    try cluster.start()
                    print("test Redis: a shared Redis Cluster at \(cluster.url), ready in "
                        + String(format: "%.1f", Date().timeIntervalSince(began)) + " s")
                    return TestRedis(.cluster(cluster))
                default:
                    let server = try RedisServer()
                    try server.start()
                    print("test Redis: a shared redis-server at \(server.url)")
                    return TestRedis(.server(server, owned: false))
                }
            }
            result = started
            if case .success(let redis) = started { SharedTeardown.install(redis) }
            return try started.get()
        }
    }
}

/// Stops the shared Redis when the test bundle finishes (its nodes would also get SIGTERM
/// when the test process exits, through ChildProcess's parent-death signal).
private final class SharedTeardown: NSObject, XCTestObservation {
    private let redis: TestRedis

    private init(_ redis: TestRedis) { self.redis = redis }

    static func install(_ redis: TestRedis) {
        XCTestObservationCenter.shared.addTestObserver(SharedTeardown(redis))
    }

    func testBundleDidFinish(_ testBundle: Bundle) {
        switch redis.cluster {
        case let cluster?: cluster.destroy()
        case nil: (try? redis.sharedServer())?.destroy()
        }
    }
}

private extension TestRedis {
    func sharedServer() throws -> RedisServer {
        guard case .server(let server, owned: false) = backing else { throw HarnessError("not a shared server") }
        return server
    }
}
