// ChannelLoadSelfTests.swift: the chaos tests' load (ChannelLoad) with no chaos, on this class's
// Redis (its own redis-server, or the shared cluster in cluster mode) and two relay nodes. If
// this fails, a failing ClusterFailoverTests or ClusterReshardTests says nothing about the chaos.

import XCTest
import Foundation

final class ChannelLoadSelfTests: RelayTestCase {
    func testAnUndisturbedLoadDeliversEverythingOnceInOrderToSubscribersOnTwoNodes() throws {
        let second = try RelayProcess(redisURL: redis.url)
        try second.start()
        defer { second.destroy() }
        let apis = [api, RelayAPI(port: second.port, bearer: TestEnvironments.devKey)]
        let sessions = try (0..<3).map { _ in try api.newSession() }
        var settings = ChannelLoad.Settings()
        settings.partsPerSession = 60
        settings.interval = 0.005
        let load = ChannelLoad(sessions: sessions, apis: apis, settings: settings)
        defer { load.stop() }
        try load.openSubscribers()
        load.startPublishers()
        try load.waitForPublishers()
        load.finish()
        let problems = try load.problems(drainWith: apis[1])
        XCTAssertTrue(problems.isEmpty, problems.prefix(20).joined(separator: "\n"))
        print("channel load self-test: \(load.summary())")

        // The checks themselves catch what they should.
        let acked = [ChannelLoad.Ack(part: 0, body: "a", seq: 1), ChannelLoad.Ack(part: 1, body: "b", seq: 2)]
        XCTAssertEqual(ChannelLoad.deliveryProblems("ok", acked: acked, received: [(1, "a"), (2, "b")]), [])
        XCTAssertEqual(ChannelLoad.deliveryProblems("x", acked: acked, received: [(1, "a")]).count, 1, "one missing")
        XCTAssertEqual(ChannelLoad.deliveryProblems("x", acked: acked, received: [(2, "b"), (1, "a")]).count, 1, "out of order")
        XCTAssertEqual(ChannelLoad.deliveryProblems("x", acked: acked, received: [(1, "a"), (2, "b"), (3, "b")]).count, 1, "twice")
        XCTAssertEqual(ChannelLoad.deliveryProblems("x", acked: acked, received: [(1, "a"), (2, "c")]).count, 1, "wrong body")
    }
}
