// ClusterPubSubTests: ShardedPubSub against a real Redis Cluster (scripts/dev-cluster: 3
// primaries, 3 replicas on loopback): SSUBSCRIBE goes to the slot's primary, a wrong map entry
// is corrected through MOVED, a slot moved to another primary makes the server drop the
// channel (`sunsubscribe` push) and the resubscription lands on the new owner, and a killed
// primary costs only its own channels.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import XCTest
import RelayIO
@testable import RelayRedis
@testable import RelayStorage

/// A test-only SlotOwners from CLUSTER SLOTS (the production one is the router's). `moved`
/// records the call and overrides the slot.
final class TestSlotMap: SlotOwners {
    private(set) var ranges: [(slots: ClosedRange<Int>, primary: RedisEndpoint)] = []
    var overrides: [Int: RedisEndpoint] = [:]
    private(set) var movedCalls: [(slot: Int, endpoint: RedisEndpoint)] = []
    var onChange: [() -> Void] = []

    func primary(slot: Int) -> RedisEndpoint? {
        overrides[slot] ?? ranges.first { $0.slots.contains(slot) }?.primary
    }

    var primaries: [RedisEndpoint] {
        var seen: [RedisEndpoint] = []
        for range in ranges where !seen.contains(range.primary) { seen.append(range.primary) }
        return seen
    }

    func moved(slot: Int, to endpoint: RedisEndpoint) {
        movedCalls.append((slot, endpoint))
        overrides[slot] = endpoint
        onChange.forEach { $0() }
    }

    /// Reads CLUSTER SLOTS from the node on `port` (over a RespConnection on `loop`).
    func load(port: Int, loop: EventLoop) throws {
        let connection = RespConnection(loop: loop, endpoint: .tcp(host: "127.0.0.1", port: port))
        var reply: RedisReply?
        connection.onReply = { reply = $0 }
        connection.connect()
        connection.send(["CLUSTER", "SLOTS"])
        guard loop.spin(until: { reply != nil }), let entries = reply?.array else {
            throw HarnessError("CLUSTER SLOTS from \(port): \(String(describing: reply))")
        }
        connection.disconnect()
        ranges = try entries.map { entry in
            guard let items = entry.array, items.count >= 3, let start = items[0].int, let end = items[1].int,
                  let node = items[2].array, node.count >= 2, let host = node[0].string, let port = node[1].int else {
                throw HarnessError("a CLUSTER SLOTS entry: \(entry)")
            }
            return (Int(start)...Int(end), .tcp(host: host, port: Int(port)))
        }
        overrides = [:]
        onChange.forEach { $0() }
    }
}

/// A subscriber that behaves like ChannelFeed: on `.unsubscribed` (the server dropped the
/// channel) it subscribes again at once.
final class Resubscriber {
    let channel: String
    let pubsub: ShardedPubSub
    var events: [PubSubEvent] = []
    init(_ channel: String, _ pubsub: ShardedPubSub) {
        self.channel = channel
        self.pubsub = pubsub
    }
    func subscribe() {
        pubsub.subscribe(channel) { event in
            self.events.append(event)
            if event == .unsubscribed { self.subscribe() }
        }
    }
    var messages: [String] {
        events.compactMap { if case .message(let payload) = $0 { return String(decoding: payload, as: UTF8.self) } else { return nil } }
    }
}

final class ClusterPubSubTests: XCTestCase {
    static var cluster: RedisCluster?
    static var ports: [Int] = []
    static var startError: Error?

    var loop: EventLoop!
    var slots: TestSlotMap!
    var pubsub: ShardedPubSub!
    var connects = 0
    var disconnects = 0

    override class func setUp() {
        super.setUp()
        do {
            let cluster = try RedisCluster()
            self.cluster = cluster
            try cluster.start()
            ports = cluster.ports.map(Int.init)
        } catch {
            startError = error
        }
    }

    override class func tearDown() {
        cluster?.destroy()
        cluster = nil
        super.tearDown()
    }

    override func setUpWithError() throws {
        if let error = Self.startError { throw error }
        loop = EventLoop()
        slots = TestSlotMap()
        try slots.load(port: Self.ports[0], loop: loop)
        XCTAssertEqual(slots.primaries.count, 3)
        pubsub = ShardedPubSub(loop: loop, owners: slots, logger: Logger(label: "test"))
        pubsub.onConnected.append { [unowned self] in self.connects += 1 }
        pubsub.onDisconnected.append { [unowned self] in self.disconnects += 1 }
        pubsub.start()
        XCTAssertTrue(loop.spin { [unowned self] in self.pubsub.connectedPrimaries.count == 3 }, "one connection per primary")
    }

    override func tearDown() {
        pubsub?.stop()
        pubsub = nil
        loop = nil
    }

    func port(_ endpoint: RedisEndpoint?) -> Int {
        guard case .tcp(_, let port)? = endpoint else { return -1 }
        return port
    }

    /// Subscribers of `channel` on each primary's port.
    func shardSubscribers(_ channel: String) throws -> [Int: Int] {
        var counts: [Int: Int] = [:]
        for primary in slots.primaries {
            let lines = try redisCLI(port(primary), "PUBSUB", "SHARDNUMSUB", channel).split(whereSeparator: \.isNewline)
            counts[port(primary)] = lines.count == 2 ? Int(lines[1]) : nil
        }
        return counts
    }

    /// SPUBLISH through the cluster (redis-cli -c follows MOVED); the number of receivers.
    func publish(_ channel: String, _ message: String) throws -> String {
        try redisCLI(Self.ports[0], "-c", "SPUBLISH", channel, message)
    }

    func testSubscriptionsGoToTheOwningPrimary() throws {
        let channels = ["{s:a1}:out", "{s:b2}:out", "{s:c3}:in", "{s:d4}:out"]
        var events: [String: ChannelEvents] = [:]
        for channel in channels {
            let recorder = ChannelEvents()
            events[channel] = recorder
            pubsub.subscribe(channel, recorder.handler)
        }
        XCTAssertTrue(loop.spin { events.values.allSatisfy { $0.events == [.subscribed] } }, "\(events.mapValues(\.events))")
        let owners = Set(channels.map { port(slots.primary(slot: ClusterSlot.of($0))) })
        XCTAssertGreaterThan(owners.count, 1, "the channels span several primaries")
        for channel in channels {
            let owner = port(slots.primary(slot: ClusterSlot.of(channel)))
            let counts = try shardSubscribers(channel)
            XCTAssertEqual(counts[owner], 1, "\(channel) on its owner \(owner): \(counts)")
            XCTAssertEqual(counts.values.reduce(0, +), 1, "\(channel) on no other primary: \(counts)")
            XCTAssertEqual(try publish(channel, "to \(channel)"), "1")
        }
        XCTAssertTrue(loop.spin { channels.allSatisfy { events[$0]?.messages == ["to \($0)"] } },
                      "\(events.mapValues(\.messages))")
        XCTAssertTrue(slots.movedCalls.isEmpty)
    }

    func testAWrongMapEntryIsCorrectedThroughMoved() throws {
        let channel = "{s:wrong}:out"
        let slot = ClusterSlot.of(channel)
        let owner = slots.primary(slot: slot)!
        let wrong = slots.primaries.first { $0 != owner }!
        slots.overrides[slot] = wrong
        let events = ChannelEvents()
        pubsub.subscribe(channel, events.handler)
        XCTAssertTrue(loop.spin { !events.events.isEmpty })
        XCTAssertEqual(events.events, [.subscribed], "the redirect is invisible to the handler")
        XCTAssertEqual(slots.movedCalls.map(\.slot), [slot])
        XCTAssertEqual(slots.movedCalls.first?.endpoint, owner)
        XCTAssertEqual(slots.primary(slot: slot), owner, "the map is corrected")
        XCTAssertEqual(try shardSubscribers(channel)[port(owner)], 1)
        XCTAssertEqual(try shardSubscribers(channel)[port(wrong)], 0)
        XCTAssertEqual(try publish(channel, "found"), "1")
        XCTAssertTrue(loop.spin { events.messages == ["found"] })
    }

    func testAMovedSlotIsResubscribedOnItsNewOwner() throws {
        let channel = "{s:moving}:out"
        let slot = ClusterSlot.of(channel)
        let source = slots.primary(slot: slot)!
        let target = slots.primaries.first { $0 != source }!
        let feed = Resubscriber(channel, pubsub)
        feed.subscribe()
        // Another channel on the same primary, in another slot, must not notice.
        let neighbour = (0..<1000).lazy.map { "{s:n\($0)}:out" }
            .first { self.slots.primary(slot: ClusterSlot.of($0)) == source && ClusterSlot.of($0) != slot }!
        let bystander = ChannelEvents()
        pubsub.subscribe(neighbour, bystander.handler)
        XCTAssertTrue(loop.spin { feed.events == [.subscribed] && bystander.events == [.subscribed] })
        XCTAssertEqual(try publish(channel, "before"), "1")
        XCTAssertTrue(loop.spin { feed.messages == ["before"] })
        // The session's data moves too (a stream in the slot).
        _ = try redisCLI(port(source), "XADD", channel, "1-1", "f", "v")

        try moveSlot(slot, from: source, to: target)

        // subscribed, the "before" message, then the server's drop and the new subscription.
        XCTAssertTrue(loop.spin { feed.events.filter { $0 == .subscribed }.count >= 2 }, "\(feed.events)")
        XCTAssertEqual(Array(feed.events.suffix(2)), [.unsubscribed, .subscribed], "dropped by the server, then subscribed again")
        XCTAssertEqual(try shardSubscribers(channel)[port(target)], 1, "on the new owner")
        XCTAssertEqual(try shardSubscribers(channel)[port(source)], 0)
        XCTAssertEqual(slots.movedCalls.last?.endpoint, target, "learned through MOVED")
        XCTAssertEqual(try publish(channel, "after"), "1")
        XCTAssertTrue(loop.spin { feed.messages == ["before", "after"] }, "\(feed.events)")
        XCTAssertEqual(try redisCLI(port(target), "XLEN", channel), "1")
        XCTAssertEqual(try publish(neighbour, "unaffected"), "1")
        XCTAssertTrue(loop.spin { bystander.messages == ["unaffected"] })
        XCTAssertEqual(bystander.events.first, .subscribed)
        XCTAssertFalse(bystander.events.contains(.unsubscribed) || bystander.events.contains(.connectionLost))
        XCTAssertEqual(disconnects, 0)
    }

    func testAKilledPrimaryCostsOnlyItsChannelsAndTheFailoverIsFollowed() throws {
        // Not the node the test publishes through.
        let victim = slots.primaries.first { port($0) != Self.ports[0] }!
        let onVictim = (0..<1000).lazy.map { "{s:v\($0)}:out" }.first { self.slots.primary(slot: ClusterSlot.of($0)) == victim }!
        let elsewhere = (0..<1000).lazy.map { "{s:e\($0)}:out" }.first { self.slots.primary(slot: ClusterSlot.of($0)) != victim }!
        let lost = Resubscriber(onVictim, pubsub)
        let kept = ChannelEvents()
        lost.subscribe()
        pubsub.subscribe(elsewhere, kept.handler)
        XCTAssertTrue(loop.spin { lost.events == [.subscribed] && kept.events == [.subscribed] })
        // Idle feeds resubscribe on onConnected (the hub's pubSubReconnected).
        pubsub.onConnected.append { [unowned self] in
            if lost.events.last == .connectionLost { lost.subscribe() }
            _ = self
        }

        // A replica can take over only once it has synced (the first full sync waits for
        // repl-diskless-sync-delay, 5 s): wait for that first.
        let victimID = try redisCLI(port(victim), "CLUSTER", "MYID")
        let replicaPort = try redisCLI(port(victim), "CLUSTER", "NODES").split(whereSeparator: \.isNewline)
            .first { $0.contains("slave \(victimID)") }
            .flatMap { $0.split(separator: " ")[1].split(separator: "@")[0].split(separator: ":").last.flatMap { Int($0) } }
        let replica = try XCTUnwrap(replicaPort, "the victim's replica")
        try waitUntil(timeout: 30, "the replica on \(replica) in sync") {
            (try? redisCLI(replica, "INFO", "replication"))?.contains("master_link_status:up") == true
        }
        let pid = try redisCLI(port(victim), "INFO", "server").split(whereSeparator: \.isNewline)
            .first { $0.hasPrefix("process_id:") }
            .flatMap { Int32($0.dropFirst("process_id:".count).trimmingCharacters(in: .whitespacesAndNewlines)) }
        XCTAssertEqual(Glibc.kill(try XCTUnwrap(pid), SIGKILL), 0)

        XCTAssertTrue(loop.spin { lost.events.last == .connectionLost }, "\(lost.events)")
        XCTAssertTrue(pubsub.isConnected, "the other primaries are still up")
        XCTAssertEqual(disconnects, 0, "onDisconnected is for losing every primary")
        XCTAssertEqual(try publish(elsewhere, "still flowing"), "1")
        XCTAssertTrue(loop.spin { kept.messages == ["still flowing"] })

        // The replica takes over (node timeout 2 s); the router would refresh its map: here the test does.
        let survivor = RedisEndpoint.tcp(host: "127.0.0.1", port: Self.ports[0])
        try waitUntil(timeout: 30, "the replica on \(replica) promoted") {
            guard let nodes = try? redisCLI(port(survivor), "CLUSTER", "NODES"),
                  let line = nodes.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix(victimID) }),
                  line.contains(",fail "), !line.contains("fail?") else { return false }
            return (try? redisCLI(port(survivor), "CLUSTER", "INFO"))?.contains("cluster_state:ok") == true
        }
        try slots.load(port: port(survivor), loop: loop)
        let promoted = slots.primary(slot: ClusterSlot.of(onVictim))
        XCTAssertEqual(promoted, .tcp(host: "127.0.0.1", port: replica))
        XCTAssertTrue(loop.spin(timeout: 15) { lost.events.last == .subscribed }, "resubscribed after the failover: \(lost.events)")
        XCTAssertEqual(try shardSubscribers(onVictim)[port(promoted)], 1)
        XCTAssertEqual(try publish(onVictim, "after failover"), "1")
        XCTAssertTrue(loop.spin { lost.messages == ["after failover"] })
        XCTAssertEqual(kept.events.filter { $0 == .subscribed }.count, 1, "the other channel was never touched")
    }

    /// Moves `slot` (with its keys) the way `redis-cli --cluster reshard` does.
    func moveSlot(_ slot: Int, from source: RedisEndpoint, to target: RedisEndpoint) throws {
        let sourceID = try redisCLI(port(source), "CLUSTER", "MYID")
        let targetID = try redisCLI(port(target), "CLUSTER", "MYID")
        _ = try redisCLI(port(target), "CLUSTER", "SETSLOT", String(slot), "IMPORTING", sourceID)
        _ = try redisCLI(port(source), "CLUSTER", "SETSLOT", String(slot), "MIGRATING", targetID)
        let keys = try redisCLI(port(source), "CLUSTER", "GETKEYSINSLOT", String(slot), "1000").split(whereSeparator: \.isNewline).map(String.init)
        if !keys.isEmpty {
            _ = try redisCLI(port(source), ["MIGRATE", "127.0.0.1", String(port(target)), "", "0", "5000", "KEYS"] + keys)
        }
        for node in [target, source] + slots.primaries.filter({ $0 != source && $0 != target }) {
            XCTAssertEqual(try redisCLI(port(node), "CLUSTER", "SETSLOT", String(slot), "NODE", targetID), "OK")
        }
    }
}
