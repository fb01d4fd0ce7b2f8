// ClusterHungPrimaryTests: a primary that hangs (SIGSTOP: its kernel keeps the pub/sub
// connection up, so no drop and no `sunsubscribe` ever comes) while its replica is promoted.
// The channel must follow the slot map to the new owner: the handler gets `.unsubscribed`,
// subscribes again there and receives what is published after. The heartbeat is set far
// beyond the test here, so only the map change can rescue the channel (PubSubHeartbeatTests
// covers the heartbeat). On ClusterPubSubTests' cluster (dev-cluster).
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import XCTest
import RelayIO
@testable import RelayRedis
@testable import RelayStorage

extension ClusterPubSubTests {
    func testAHungPrimaryIsLeftForItsPromotedReplica() throws {
        pubsub.stop()
        disconnects = 0
        pubsub = ShardedPubSub(loop: loop, owners: slots,
                               options: RedisNodeOptions(heartbeat: RedisHeartbeat(intervalSeconds: 600, replyTimeoutSeconds: 600)),
                               logger: Logger(label: "test"))
        pubsub.onDisconnected.append { [unowned self] in self.disconnects += 1 }
        pubsub.start()
        XCTAssertTrue(loop.spin { [unowned self] in self.pubsub.connectedPrimaries.count == 3 })

        // A primary with a replica in sync, not the node the test publishes through.
        let (victim, replica) = try XCTUnwrap(slots.primaries.lazy.filter { self.port($0) != Self.ports[0] }
            .compactMap { primary in self.syncedReplica(of: self.port(primary)).map { (primary, $0) } }.first,
            "a primary with a replica in sync")
        let onVictim = (0..<1000).lazy.map { "{s:h\($0)}:out" }.first { self.slots.primary(slot: ClusterSlot.of($0)) == victim }!
        let elsewhere = (0..<1000).lazy.map { "{s:k\($0)}:out" }.first { self.slots.primary(slot: ClusterSlot.of($0)) != victim }!
        let feed = Resubscriber(onVictim, pubsub)
        let kept = ChannelEvents()
        feed.subscribe()
        pubsub.subscribe(elsewhere, kept.handler)
        // Idle feeds resubscribe on onConnected (the hub's pubSubReconnected).
        pubsub.onConnected.append { if feed.events.last == .connectionLost { feed.subscribe() } }
        XCTAssertTrue(loop.spin { feed.events == [.subscribed] && kept.events == [.subscribed] })
        XCTAssertEqual(try publish(onVictim, "before"), "1")
        XCTAssertTrue(loop.spin { feed.messages == ["before"] })

        let victimID = try redisCLI(port(victim), "CLUSTER", "MYID")
        let pid = try XCTUnwrap(processID(port(victim)))
        XCTAssertEqual(Glibc.kill(pid, SIGSTOP), 0)
        defer { rejoin(pid: pid, port: port(victim), as: replica) }

        let survivor = Self.ports[0]
        try waitUntil(timeout: 30, "the replica on \(replica) promoted") {
            guard let nodes = try? redisCLI(survivor, "CLUSTER", "NODES"),
                  let line = nodes.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix(victimID) }),
                  line.contains("fail"), !line.contains("fail?"),
                  let replicaLine = nodes.split(whereSeparator: \.isNewline).first(where: { $0.contains(":\(replica)@") }),
                  replicaLine.contains("master") else { return false }
            return (try? redisCLI(survivor, "CLUSTER", "INFO"))?.contains("cluster_state:ok") == true
        }
        XCTAssertEqual(feed.events.last, .message(Array("before".utf8)), "nothing told the channel yet: \(feed.events)")

        // The router's refresh would bring the new map: here the test does.
        let changed = Clock.monotonicSeconds()
        try slots.load(port: survivor, loop: loop)
        XCTAssertEqual(slots.primary(slot: ClusterSlot.of(onVictim)), .tcp(host: "127.0.0.1", port: replica))
        XCTAssertTrue(loop.spin(timeout: 10) { feed.events.last == .subscribed }, "resubscribed on the new owner: \(feed.events)")
        print("resubscribed \(String(format: "%.2f", Clock.monotonicSeconds() - changed)) s after the map changed: \(feed.events)")
        XCTAssertTrue(feed.events.contains(.unsubscribed), "\(feed.events)")
        XCTAssertEqual(try shardSubscribers(onVictim)[replica], 1)
        XCTAssertEqual(try publish(onVictim, "after"), "1")
        XCTAssertTrue(loop.spin { feed.messages == ["before", "after"] }, "\(feed.events)")
        XCTAssertFalse(pubsub.connectedPrimaries.contains(victim), "the former primary's connection is closed")
        XCTAssertEqual(kept.events, [.subscribed], "the other channel was never touched")
        XCTAssertEqual(disconnects, 0)
    }

    /// The port of a replica of the primary on `port` whose link is up (INFO replication).
    func syncedReplica(of port: Int) -> Int? {
        guard let info = try? redisCLI(port, "INFO", "replication") else { return nil }
        for line in info.split(whereSeparator: \.isNewline) where line.hasPrefix("slave") && line.contains("state=online") {
            if let field = line.split(separator: ",").first(where: { $0.hasPrefix("port=") }) { return Int(field.dropFirst(5)) }
        }
        return nil
    }

    func processID(_ port: Int) -> pid_t? {
        (try? redisCLI(port, "INFO", "server"))?.split(whereSeparator: \.isNewline)
            .first { $0.hasPrefix("process_id:") }
            .flatMap { pid_t($0.dropFirst("process_id:".count).trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// SIGCONT, and waits (bounded) until the node has rejoined as a replica of `primary` in
    /// sync and the primary sees it so, so the tests after this one find every primary with a
    /// replica.
    func rejoin(pid: pid_t, port: Int, as primary: Int) {
        Glibc.kill(pid, SIGCONT)
        do {
            try waitUntil(timeout: 30, "node \(port) back as a replica of \(primary) in sync") {
                guard let info = try? redisCLI(port, "INFO", "replication"), info.contains("role:slave"),
                      info.contains("master_link_status:up"), info.contains("master_port:\(primary)"),
                      let primaryID = try? redisCLI(primary, "CLUSTER", "MYID"),
                      let nodes = try? redisCLI(primary, "CLUSTER", "NODES"),
                      let line = nodes.split(whereSeparator: \.isNewline).first(where: { $0.contains(":\(port)@") }) else { return false }
                return line.contains("slave \(primaryID)") && !line.contains("fail")
            }
        } catch {
            XCTFail("\(error)")
        }
    }
}
