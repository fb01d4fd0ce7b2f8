// ClusterChaosTestCase.swift: the base of the tests that break a Redis Cluster under load
// (ClusterFailoverTests, ClusterReshardTests). Each test gets a Redis Cluster of its own (they
// kill nodes and move slots; the shared cluster of the other classes stays untouched), two relay
// nodes on it with `relayEnvironment`, sessions spread over the primaries, and a ChannelLoad.
// They run in cluster mode only (scripts/test --cluster): they need the relay's
// redis-cluster:// support, and running them in the single-instance pass too would only double
// their CI time.

import XCTest
import Foundation

class ClusterChaosTestCase: XCTestCase {
    /// Environment of both relay nodes.
    class var relayEnvironment: [String: String] { [:] }

    private(set) var cluster: RedisCluster!
    private(set) var relays: [RelayProcess] = []

    override func setUpWithError() throws {
        try super.setUpWithError()
        guard TestRedis.mode == .cluster else {
            throw XCTSkip("Redis Cluster chaos test: runs with RELAY_TEST_REDIS=cluster (scripts/test --cluster)")
        }
        let cluster = try RedisCluster(primaries: 3, nodeTimeoutMilliseconds: 1000)
        self.cluster = cluster
        try cluster.start()
        for index in 1...2 {
            var environment = Self.relayEnvironment
            environment["RELAY_NODE_NAME"] = "chaos-node-\(index)"
            let relay = try RelayProcess(redisURL: cluster.url, environment: environment)
            relays.append(relay)
            try relay.start()
        }
    }

    override func tearDown() {
        relays.forEach { $0.destroy() }
        relays = []
        cluster?.destroy()
        cluster = nil
        super.tearDown()
    }

    var apis: [RelayAPI] { relays.map { RelayAPI(port: $0.port, bearer: TestEnvironments.devKey) } }

    /// `count` new sessions whose slots are served by at least two different primaries.
    func sessionsOnSeveralPrimaries(_ count: Int) throws -> [String] {
        for _ in 0..<20 {
            let sessions = try (0..<count).map { _ in try apis[0].newSession() }
            if Set(try sessions.map { try cluster.owner(ofSession: $0) }).count >= 2 { return sessions }
        }
        throw HarnessError("20 tries of \(count) sessions all landed on one primary")
    }

    /// Runs the load on `sessions`; once a third of the first session's parts are acknowledged,
    /// runs `chaos` (on this thread, while the load goes on); then finishes the load and fails
    /// the test with every problem found.
    func runLoad(on sessions: [String], settings: ChannelLoad.Settings = ChannelLoad.Settings(),
                 chaos: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) throws {
        try runLoad(on: sessions, settings: settings, chaosWithLoad: { _ in try chaos() }, file: file, line: line)
    }

    /// `runLoad` whose chaos step sees the load (to wait for deliveries meanwhile).
    func runLoad(on sessions: [String], settings: ChannelLoad.Settings = ChannelLoad.Settings(),
                 chaosWithLoad chaos: (ChannelLoad) throws -> Void, file: StaticString = #filePath, line: UInt = #line) throws {
        let load = ChannelLoad(sessions: sessions, apis: apis, settings: settings)
        defer { load.stop() }
        try load.openSubscribers()
        load.startPublishers()
        try load.waitForAcknowledged(sessions[0], count: settings.partsPerSession / 3)
        let chaosStarted = Date()
        do {
            try chaos(load)
        } catch {
            XCTFail("the chaos step failed: \(error)", file: file, line: line)
        }
        print("\(name): chaos step took \(String(format: "%.1f", Date().timeIntervalSince(chaosStarted))) s")
        try load.waitForPublishers()
        load.finish()
        let problems = try load.problems(drainWith: apis[0])
        print("\(name): \(load.summary())")
        XCTAssertTrue(problems.isEmpty, "\(problems.count) problems:\n" + problems.prefix(30).joined(separator: "\n")
            + relays.map { "\nrelay \($0.port) log tail:\n\($0.logTail(maxBytes: 3_000))" }.joined(), file: file, line: line)
    }
}
