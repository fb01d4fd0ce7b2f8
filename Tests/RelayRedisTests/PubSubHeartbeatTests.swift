// PubSubHeartbeatTests: the pub/sub connection's liveness check against one real redis-server.
// A server that hangs (SIGSTOP: its kernel still holds the connection, as in a partition) never
// drops the connection by itself; the heartbeat must: an unanswered PING (idle connection) or
// SSUBSCRIBE drops it within the deadline, the channels see `.connectionLost`, and the
// connection comes back once the server answers again. A healthy idle connection, subscribed
// (PING answered `["pong", ""]`) or not (`+PONG`), is never dropped.
import Logging
import XCTest
import RelayIO
@testable import RelayRedis
@testable import RelayStorage

final class PubSubHeartbeatTests: XCTestCase {
    var loop: EventLoop!
    var redis: RedisServer!
    var pubsub: ShardedPubSub!
    var connects = 0
    var disconnects = 0
    let heartbeat = RedisHeartbeat.standard

    override func setUpWithError() throws {
        loop = EventLoop()
        redis = try RedisServer()
        try redis.start()
        pubsub = ShardedPubSub(loop: loop, owners: SingleNodeSlots(endpoint: redis.endpoint), logger: Logger(label: "test"))
        pubsub.onConnected.append { [unowned self] in self.connects += 1 }
        pubsub.onDisconnected.append { [unowned self] in self.disconnects += 1 }
        pubsub.start()
        XCTAssertTrue(loop.spin { [unowned self] in self.pubsub.isConnected })
    }

    override func tearDown() {
        redis?.resume()
        pubsub?.stop()
        pubsub = nil
        redis?.destroy()
        loop = nil
    }

    func subscribe(_ channel: String) -> ChannelEvents {
        let events = ChannelEvents()
        pubsub.subscribe(channel, events.handler)
        XCTAssertTrue(loop.spin { events.events.contains(.subscribed) }, "\(channel) subscribed: \(events.events)")
        return events
    }

    func pingCalls() throws -> Int {
        let stats = try redis.cli("INFO", "commandstats")
        guard let line = stats.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("cmdstat_ping:calls=") }) else { return 0 }
        return Int(line.dropFirst("cmdstat_ping:calls=".count).prefix { $0.isNumber }) ?? 0
    }

    func testAHealthyIdleConnectionStaysUp() throws {
        let window = heartbeat.intervalSeconds * 2 + 0.5
        let before = try pingCalls()
        loop.spin(for: window)
        XCTAssertGreaterThanOrEqual(try pingCalls() - before, 1, "heartbeat PINGs while nothing is subscribed (+PONG)")
        let channel = subscribe("{s:idle}:out")
        let subscribedPings = try pingCalls()
        loop.spin(for: window)
        XCTAssertGreaterThanOrEqual(try pingCalls() - subscribedPings, 1, "heartbeat PINGs in subscribed mode ([pong, \"\"])")
        XCTAssertEqual(channel.events, [.subscribed])
        XCTAssertEqual(connects, 1, "never reconnected")
        XCTAssertEqual(disconnects, 0)
        XCTAssertEqual(try redis.cli("SPUBLISH", "{s:idle}:out", "still here"), "1")
        XCTAssertTrue(loop.spin { channel.messages == ["still here"] })
    }

    func testAHungServerIsDroppedWithinTheDeadlineAndFollowedBack() throws {
        let channel = subscribe("{s:hung}:out")
        // Let the connection go idle, so that the heartbeat's PING is what goes unanswered.
        loop.spin(for: 0.5)
        redis.pause()
        let paused = Clock.monotonicSeconds()
        let bound = heartbeat.intervalSeconds + heartbeat.replyTimeoutSeconds + 1.5
        XCTAssertTrue(loop.spin(timeout: bound + 2) { channel.events.last == .connectionLost }, "\(channel.events)")
        let took = Clock.monotonicSeconds() - paused
        XCTAssertLessThanOrEqual(took, bound, "dropped \(took) s after the server hung")
        XCTAssertGreaterThanOrEqual(took, heartbeat.replyTimeoutSeconds - 0.1, "not before the deadline")
        XCTAssertTrue(loop.spin { [unowned self] in self.disconnects == 1 })
        XCTAssertFalse(pubsub.isConnected)

        // Reconnects meanwhile reach the kernel's backlog but never get a PONG: not ready.
        loop.spin(for: heartbeat.replyTimeoutSeconds + 1)
        XCTAssertFalse(pubsub.isConnected)
        XCTAssertEqual(connects, 1)

        redis.resume()
        XCTAssertTrue(loop.spin(timeout: 15) { [unowned self] in self.connects == 2 }, "connected again once Redis answers")
        let again = subscribe("{s:hung}:out")
        XCTAssertEqual(try redis.cli("SPUBLISH", "{s:hung}:out", "back"), "1")
        XCTAssertTrue(loop.spin { again.messages == ["back"] })
        XCTAssertEqual(channel.events, [.subscribed, .connectionLost])
    }

    func testAnUnansweredSubscribeTimesOut() throws {
        let first = subscribe("{s:a}:out")
        redis.pause()
        let second = ChannelEvents()
        let sent = Clock.monotonicSeconds()
        pubsub.subscribe("{s:b}:out", second.handler)
        XCTAssertTrue(second.events.isEmpty, "sent, waiting for its answer")
        let bound = heartbeat.replyTimeoutSeconds + 1.5
        XCTAssertTrue(loop.spin(timeout: bound + 2) { second.events == [.connectionLost] }, "\(second.events)")
        XCTAssertLessThanOrEqual(Clock.monotonicSeconds() - sent, bound)
        XCTAssertEqual(first.events, [.subscribed, .connectionLost], "the whole connection went")
    }
}
