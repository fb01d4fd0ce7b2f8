// RelayTestCase.swift: the base class of the integration tests.
//
// Each subclass gets one Redis and one relay for all its tests (class setUp and tearDown). The
// Redis is the class's own redis-server, or with RELAY_TEST_REDIS=cluster a Redis Cluster shared
// by every class of the test process (see TestRedis); tests keep out of each other's way with
// unique data (`unique(_:)`), never by flushing Redis. A test that needs a redis-server of its
// own (it stops or restarts it) says so with `skipWithSharedRedis`. If the fixture cannot
// start, every test of the class fails with the reason (and the relay's output) instead of the
// class crashing.
// Subclasses may override `relayExtraArguments` / `relayEnvironment` to configure their relay.

import XCTest
import Foundation

class RelayTestCase: XCTestCase {
    /// Arguments appended to `relay serve --listen ... --redis ...` for this class's relay.
    class var relayExtraArguments: [String] { [] }
    /// Environment variables set (or overridden) for this class's relay.
    class var relayEnvironment: [String: String] { [:] }
    /// Whether this class's redis-server keeps its data across a restart.
    class var redisPersistent: Bool { false }

    private struct Fixture {
        let redis: TestRedis
        let relay: RelayProcess

        func destroy() {
            relay.destroy()
            redis.release()
        }
    }

    /// One fixture per test class; XCTest runs classes one after another on one thread.
    private static var fixtures: [ObjectIdentifier: Result<Fixture, Error>] = [:]

    override class func setUp() {
        super.setUp()
        fixtures[ObjectIdentifier(self)] = Result {
            let redis = try TestRedis.forTestClass(persistent: redisPersistent)
            do {
                let relay = try RelayProcess(redisURL: redis.url, extraArguments: relayExtraArguments,
                                             environment: relayEnvironment)
                do {
                    try relay.start()  // its error quotes the relay's output
                } catch {
                    relay.destroy()
                    throw error
                }
                return Fixture(redis: redis, relay: relay)
            } catch {
                redis.release()
                throw error
            }
        }
    }

    override class func tearDown() {
        if case .success(let fixture)? = fixtures.removeValue(forKey: ObjectIdentifier(self)) {
            fixture.destroy()
        }
        super.tearDown()
    }

    private(set) var redis: TestRedis!
    private(set) var relay: RelayProcess!

    override func setUpWithError() throws {
        try super.setUpWithError()
        guard let result = RelayTestCase.fixtures[ObjectIdentifier(type(of: self))] else {
            throw HarnessError("no fixture for \(type(of: self)): class setUp did not run")
        }
        let fixture = try result.get()
        guard fixture.relay.isRunning else {
            throw HarnessError("the relay of \(type(of: self)) is no longer running; its output:\n\(fixture.relay.logTail())")
        }
        redis = fixture.redis
        relay = fixture.relay
    }

    /// Skips the calling test when this class's Redis is shared (RELAY_TEST_REDIS=cluster or
    /// shared), with `reason`: the single-instance run covers it.
    func skipWithSharedRedis(_ reason: String) throws {
        if TestRedis.mode != .single { throw XCTSkip("RELAY_TEST_REDIS=\(TestRedis.mode.rawValue): \(reason)") }
    }

    // MARK: Clients

    /// The API with env_dev's secret key.
    var api: RelayAPI { RelayAPI(port: relay.port, bearer: TestEnvironments.devKey) }

    /// The API with env_prod's secret key.
    var prodAPI: RelayAPI { RelayAPI(port: relay.port, bearer: TestEnvironments.prodKey) }

    /// The API with any credentials (nil: no Authorization header).
    func api(bearer: String?) -> RelayAPI { RelayAPI(port: relay.port, bearer: bearer) }

    /// Raw HTTP to the relay, no credentials.
    var http: HTTPClient { relay.http }

    /// A public token for env_dev signed with its secret key.
    func devToken(_ scopes: [String], exp: Date? = nil) throws -> String {
        try TestToken.mint(envId: TestEnvironments.devId, scopes: scopes, secret: TestEnvironments.devKey, exp: exp)
    }

    // MARK: Data

    /// A name no other test uses: `prefix-<uuid>`.
    func unique(_ prefix: String) -> String { "\(prefix)-\(UUID().uuidString.lowercased())" }
}
