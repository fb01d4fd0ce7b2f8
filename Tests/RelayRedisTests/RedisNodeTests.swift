// RedisNodeTests: one node's connections and its one liveness verdict, against scripted
// in-memory servers (ScriptedRedis): every idle connection is pinged (so neither a hung server
// nor a Redis `timeout` setting goes unnoticed), an unanswered heartbeat fails the whole node
// after the heartbeat's reply timeout, and the node comes back once the server answers.
import Logging
import XCTest
import RelayIO
@testable import RelayRedis

final class RedisNodeTests: XCTestCase {
    let endpoint = RedisEndpoint.tcp(host: "127.0.0.1", port: 7001)
    var loop: EventLoop!
    var redis: ScriptedRedis!
    var nodes: RedisNodeSet!
    var node: RedisNode!
    var events: [String] = []

    override func setUpWithError() throws {
        loop = EventLoop()
        redis = ScriptedRedis(loop: loop)
        nodes = RedisNodeSet(loop: loop, options: RedisNodeOptions(
            replicatedWrites: true, heartbeat: RedisHeartbeat(intervalSeconds: 0.1, replyTimeoutSeconds: 0.3)),
            logger: Logger(label: "test"), connector: redis.connector)
        node = nodes.node(for: endpoint)
        nodes.needs.append { _ in true }
        nodes.onNodeReady.append { [unowned self] _ in self.events.append("ready") }
        nodes.onNodeLost.append { [unowned self] _ in self.events.append("lost") }
        nodes.start()
        XCTAssertTrue(loop.spin(timeout: 2) { self.node.isReady })
    }

    override func tearDown() {
        nodes?.stop()
        nodes = nil
        loop = nil
    }

    func testEveryIdleConnectionIsPinged() {
        let before = redis.received.count
        loop.spin(for: 0.6)
        let pings = redis.received[before...].filter { $0.command == ["PING"] }
        let connections = Set(pings.map(\.connection))
        XCTAssertEqual(connections.count, 3, "commands, replicated writes and pub/sub each pinged: \(pings.count) PINGs")
        XCTAssertTrue(node.isReady)
        XCTAssertEqual(events, ["ready"])
    }

    func testAnUnansweredHeartbeatFailsTheWholeNodeAndItComesBack() {
        redis.answersPing = false
        let started = Clock.monotonicSeconds()
        XCTAssertTrue(loop.spin(timeout: 3) { !self.node.isReady }, "the hung server is noticed")
        let took = Clock.monotonicSeconds() - started
        XCTAssertGreaterThanOrEqual(took, 0.3, "not before the reply timeout")
        XCTAssertLessThan(took, 0.1 + 0.3 + 0.5, "within interval + reply timeout (+ a tick)")
        XCTAssertEqual(events, ["ready", "lost"])
        // A command while it is down fails fast.
        XCTAssertEqual(loop.wait(1) { done in self.node.send(["GET", "k"], done) }, .failure(.notConnected))
        redis.answersPing = true
        XCTAssertTrue(loop.spin(timeout: 3) { self.node.isReady }, "back once the server answers")
        XCTAssertEqual(events, ["ready", "lost", "ready"])
    }

    func testACommandInFlightWhenTheNodeFailsCompletesOnceAsTimedOut() {
        redis.respond = { _, _ in nil }
        var replies: [RedisReply] = []
        node.send(["GET", "k"]) { replies.append($0) }
        XCTAssertTrue(loop.spin(timeout: 4) { !replies.isEmpty })
        loop.spin(for: 0.3)
        XCTAssertEqual(replies, [.failure(.timedOut)], "exactly once, after the command deadline")
    }
}
