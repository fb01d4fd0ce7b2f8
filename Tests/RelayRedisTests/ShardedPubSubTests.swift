// ShardedPubSubTests: the node's pub/sub against one real redis-server (SingleNodeSlots): the
// single-instance mode runs SSUBSCRIBE / SPUBLISH too. Subscribe, messages, unsubscribe, and a
// server that dies and comes back.
import Logging
import XCTest
import RelayIO
@testable import RelayRedis
@testable import RelayStorage

/// What one channel's handler saw.
final class ChannelEvents {
    var events: [PubSubEvent] = []
    var messages: [String] {
        events.compactMap { if case .message(let payload) = $0 { return String(decoding: payload, as: UTF8.self) } else { return nil } }
    }
    func count(_ event: PubSubEvent) -> Int { events.filter { $0 == event }.count }
    var handler: (PubSubEvent) -> Void { { self.events.append($0) } }
}

final class ShardedPubSubTests: XCTestCase {
    var loop: EventLoop!
    var redis: RedisServer!
    var pubsub: ShardedPubSub!
    var connects = 0
    var disconnects = 0

    override func setUpWithError() throws {
        loop = EventLoop()
        redis = try RedisServer()
        try redis.start()
    }

    override func tearDown() {
        pubsub?.stop()
        pubsub = nil
        redis?.destroy()
        loop = nil
    }

    func start(_ endpoint: RedisEndpoint) {
        pubsub = ShardedPubSub(loop: loop, owners: SingleNodeSlots(endpoint: endpoint), logger: Logger(label: "test"))
        pubsub.onConnected.append { [unowned self] in self.connects += 1 }
        pubsub.onDisconnected.append { [unowned self] in self.disconnects += 1 }
        XCTAssertFalse(pubsub.isConnected)
        pubsub.start()
        XCTAssertTrue(loop.spin { [unowned self] in self.pubsub.isConnected }, "connected to \(endpoint)")
        XCTAssertEqual(connects, 1)
    }

    func subscribe(_ channel: String) -> ChannelEvents {
        let events = ChannelEvents()
        pubsub.subscribe(channel, events.handler)
        XCTAssertTrue(loop.spin { events.events.contains(.subscribed) }, "\(channel) subscribed: \(events.events)")
        return events
    }

    func testSubscribeReceiveUnsubscribe() throws {
        start(redis.endpoint)
        let news = subscribe("{s:abc}:out")
        let other = subscribe("{s:def}:out")
        XCTAssertEqual(try redis.cli("PUBSUB", "SHARDNUMSUB", "{s:abc}:out"), "{s:abc}:out\n1")
        XCTAssertEqual(try redis.cli("SPUBLISH", "{s:abc}:out", "1 D\n{}"), "1")
        XCTAssertEqual(try redis.cli("SPUBLISH", "{s:def}:out", "other"), "1")
        XCTAssertEqual(try redis.cli("SPUBLISH", "{s:abc}:out", "2 D\n{}"), "1")
        XCTAssertTrue(loop.spin { news.messages.count == 2 && other.messages.count == 1 })
        XCTAssertEqual(news.messages, ["1 D\n{}", "2 D\n{}"], "in order, each to its own channel")
        XCTAssertEqual(other.messages, ["other"])

        pubsub.unsubscribe("{s:abc}:out")
        XCTAssertTrue(loop.spin { news.events.last == .unsubscribed })
        XCTAssertEqual(try redis.cli("PUBSUB", "SHARDNUMSUB", "{s:abc}:out"), "{s:abc}:out\n0")
        XCTAssertEqual(try redis.cli("SPUBLISH", "{s:def}:out", "still here"), "1")
        XCTAssertTrue(loop.spin { other.messages.count == 2 })
        XCTAssertEqual(news.events, [.subscribed, .message(Array("1 D\n{}".utf8)), .message(Array("2 D\n{}".utf8)), .unsubscribed])
        XCTAssertEqual(pubsub.channelCount, 1)
    }

    func testSubscribingAgainTakesTheChannelOver() {
        start(redis.endpoint)
        let first = subscribe("c")
        let second = subscribe("c")
        XCTAssertEqual(first.events, [.subscribed])
        XCTAssertEqual(try redis.cli("SPUBLISH", "c", "x"), "1", "one subscription on the server")
        XCTAssertTrue(loop.spin { second.messages == ["x"] })
        XCTAssertEqual(first.messages, [])
    }

    func testUnsubscribeThenSubscribeAtOnceEndsSubscribed() throws {
        start(redis.endpoint)
        let first = subscribe("c")
        pubsub.unsubscribe("c")
        let second = ChannelEvents()
        pubsub.subscribe("c", second.handler)
        XCTAssertTrue(loop.spin { second.events == [.subscribed] })
        XCTAssertEqual(try redis.cli("SPUBLISH", "c", "after"), "1")
        XCTAssertTrue(loop.spin { second.messages == ["after"] })
        XCTAssertEqual(first.events, [.subscribed])
    }

    func testServerDeathReportsConnectionLostAndTheRestartResubscribes() throws {
        start(redis.endpoint)
        let channel = subscribe("{s:x}:out")
        redis.kill()
        XCTAssertTrue(loop.spin { channel.events.last == .connectionLost })
        XCTAssertTrue(loop.spin { [unowned self] in self.disconnects == 1 }, "onDisconnected after the last connection dropped")
        XCTAssertFalse(pubsub.isConnected)
        // Down: refused at once, as PubSubClient did.
        let refused = ChannelEvents()
        pubsub.subscribe("{s:y}:out", refused.handler)
        XCTAssertEqual(refused.events, [.connectionLost])

        try redis.start()
        XCTAssertTrue(loop.spin { [unowned self] in self.connects == 2 }, "onConnected after the reconnect")
        XCTAssertTrue(pubsub.isConnected)
        let again = subscribe("{s:x}:out")
        XCTAssertEqual(try redis.cli("SPUBLISH", "{s:x}:out", "back"), "1")
        XCTAssertTrue(loop.spin { again.messages == ["back"] })
        XCTAssertEqual(channel.events, [.subscribed, .connectionLost], "the old handler saw the end only")
    }

    func testUnixSocketEndpoint() throws {
        start(.unix(path: redis.socketPath))
        let channel = subscribe("{s:u}:in")
        XCTAssertEqual(try redis.cli("SPUBLISH", "{s:u}:in", "via unix"), "1")
        XCTAssertTrue(loop.spin { channel.messages == ["via unix"] })
    }

    func testStopEndsEverySubscription() {
        start(redis.endpoint)
        let channel = subscribe("c")
        pubsub.stop()
        XCTAssertEqual(channel.events, [.subscribed, .connectionLost])
        XCTAssertEqual(disconnects, 1)
        XCTAssertFalse(pubsub.isConnected)
    }

    /// The one redirect parser (ClusterRedirect) as the pub/sub side reads MOVED.
    func testMovedReplyParsing() {
        let here = "10.0.0.1"
        XCTAssertEqual(ClusterRedirect.parse("MOVED 9930 127.0.0.1:7450", replyingHost: here),
                       ClusterRedirect(kind: .moved, slot: 9930, endpoint: .tcp(host: "127.0.0.1", port: 7450)))
        XCTAssertEqual(ClusterRedirect.parse("MOVED 1 :7001", replyingHost: here)?.endpoint, .tcp(host: "10.0.0.1", port: 7001), "empty host: the same host")
        XCTAssertEqual(ClusterRedirect.parse("MOVED 1 ::1:7001", replyingHost: here)?.endpoint, .tcp(host: "::1", port: 7001))
        XCTAssertEqual(ClusterRedirect.parse("ASK 1 127.0.0.1:7001", replyingHost: here)?.kind, .ask)
        XCTAssertNil(ClusterRedirect.parse("CLUSTERDOWN The cluster is down", replyingHost: here))
    }
}
