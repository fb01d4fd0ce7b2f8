// ClusterHarnessSelfTests.swift: checks the Redis Cluster harness itself, without a relay, in
// every mode (it starts a cluster of its own): the slot function's vectors, the cluster test
// client (MOVED, ASK, keys on every primary, admin commands on every primary), moving a slot
// with its keys, and a SIGKILLed primary failing over and rejoining as a replica.
// If these fail, the cluster-mode failures of the other tests say nothing about the relay.

import XCTest
import Foundation

final class ClusterHarnessSelfTests: XCTestCase {
    private static var started: Result<RedisCluster, Error>?

    override class func tearDown() {
        if case .success(let cluster)? = started { cluster.destroy() }
        started = nil
        super.tearDown()
    }

    /// This class's own cluster (a short node timeout: one test fails a primary over).
    private func cluster() throws -> RedisCluster {
        if Self.started == nil {
            Self.started = Result {
                let cluster = try RedisCluster(primaries: 3, nodeTimeoutMilliseconds: 1000)
                try cluster.start()
                return cluster
            }
        }
        return try Self.started!.get()
    }

    func testSlotFunctionMatchesTheSpecificationsVectors() {
        XCTAssertEqual(ClusterKeySlot.crc16(Array("123456789".utf8)), 0x31C3)
        XCTAssertEqual(ClusterKeySlot.of("123456789"), 12739)
        XCTAssertEqual(ClusterKeySlot.of("{user1000}.following"), ClusterKeySlot.of("{user1000}.followers"))
        XCTAssertEqual(ClusterKeySlot.of("foo{}{bar}"), Int(ClusterKeySlot.crc16(Array("foo{}{bar}".utf8))) % 16384,
                       "an empty tag hashes the whole key")
        XCTAssertEqual(ClusterKeySlot.of("foo{{bar}}zap"), ClusterKeySlot.of("{bar"))
        XCTAssertEqual(ClusterKeySlot.of("foo{bar}{zap}"), ClusterKeySlot.of("bar"))
        XCTAssertEqual(ClusterKeySlot.ofSession("sess_1"), ClusterKeySlot.of("relay:{s:sess_1}:out"))
    }

    func testTheClusterIsReadyAndTheClientFollowsMovedAndAsksEveryPrimary() throws {
        let cluster = try cluster()
        let primaries = try cluster.primaries()
        XCTAssertEqual(primaries.count, 3, "\(primaries)")
        XCTAssertEqual(primaries.reduce(0) { $0 + $1.slotCount }, 16384)
        XCTAssertEqual(try cluster.topology().filter { $0.isReplica && !$0.isFailing }.count, 3)
        XCTAssertTrue(cluster.url.hasPrefix("redis-cluster://127.0.0.1:"), cluster.url)
        XCTAssertEqual(cluster.url.split(separator: ",").count, 6)

        // Keys on every primary, written and read through one client that starts on one node.
        let client = try cluster.client()
        defer { client.close() }
        XCTAssertTrue(client.isCluster)
        let prefix = "selftest:\(UUID().uuidString):"
        let keys = (0..<60).map { "\(prefix)\($0)" }
        for key in keys { try client.checked("SET", key, key) }
        for key in keys { XCTAssertEqual(try client.checked("GET", key).string, key) }
        XCTAssertEqual(Set(keys.map { try! cluster.owner(ofSlot: ClusterKeySlot.of($0)) }).count, 3, "keys on all three primaries")
        XCTAssertEqual(try client.keys("\(prefix)*").sorted(), keys.sorted(), "KEYS asks every primary")

        // A plain node connection gets MOVED for a key another node serves: that is what the client followed.
        let key = try XCTUnwrap(keys.first { try! cluster.owner(ofSlot: ClusterKeySlot.of($0)) != primaries[0].port })
        let plain = try cluster.nodeClient(port: primaries[0].port)
        defer { plain.close() }
        guard case .error(let moved) = try plain.command("GET", key) else { return XCTFail("expected MOVED from a plain connection") }
        XCTAssertTrue(moved.hasPrefix("MOVED \(ClusterKeySlot.of(key)) "), moved)

        // Server-wide admin commands reach every primary.
        try client.checked("CONFIG", "SET", "maxmemory-samples", "7")
        defer { _ = try? client.command("CONFIG", "SET", "maxmemory-samples", "5") }
        for primary in primaries {
            let node = try cluster.nodeClient(port: primary.port)
            XCTAssertEqual(try node.checked("CONFIG", "GET", "maxmemory-samples").array?.last?.string, "7", "primary \(primary.port)")
            node.close()
        }
    }

    func testMovingASlotCarriesItsKeysAndTheClientFollowsAsk() throws {
        let cluster = try cluster()
        let client = try cluster.client()
        defer { client.close() }
        let session = "selftest_\(UUID().uuidString.lowercased())"
        let slot = ClusterKeySlot.ofSession(session)
        let keys = (0..<250).map { "relay:{s:\(session)}:k\($0)" }
        for key in keys { try client.checked("SET", key, key) }
        let source = try cluster.owner(ofSlot: slot)
        let target = try XCTUnwrap(try cluster.primaries().map(\.port).first { $0 != source })

        // Half-way through a migration by hand: a moved key is found through ASK.
        let nodes = try cluster.topology()
        let sourceId = try XCTUnwrap(nodes.first { $0.port == source }?.id)
        let targetId = try XCTUnwrap(nodes.first { $0.port == target }?.id)
        let sourceNode = try cluster.nodeClient(port: source)
        let targetNode = try cluster.nodeClient(port: target)
        defer { sourceNode.close(); targetNode.close() }
        try targetNode.checked("CLUSTER", "SETSLOT", String(slot), "IMPORTING", sourceId)
        try sourceNode.checked("CLUSTER", "SETSLOT", String(slot), "MIGRATING", targetId)
        try sourceNode.checked("MIGRATE", "127.0.0.1", String(target), "", "0", "5000", "KEYS", keys[0])
        guard case .error(let ask) = try sourceNode.command("GET", keys[0]) else { return XCTFail("expected ASK from the source") }
        XCTAssertTrue(ask.hasPrefix("ASK \(slot) "), ask)
        XCTAssertEqual(try client.checked("GET", keys[0]).string, keys[0], "the client followed ASK")
        XCTAssertEqual(try client.checked("GET", keys[1]).string, keys[1], "a key not moved yet is still on the source")

        let started = Date()
        try cluster.moveSlot(slot, to: target)
        print("cluster self-test: moved slot \(slot) with \(keys.count) keys in \(String(format: "%.2f", Date().timeIntervalSince(started))) s")
        XCTAssertEqual(try cluster.owner(ofSlot: slot), target)
        XCTAssertEqual(try targetNode.checked("CLUSTER", "COUNTKEYSINSLOT", String(slot)).integer, keys.count)
        XCTAssertEqual(try sourceNode.checked("CLUSTER", "COUNTKEYSINSLOT", String(slot)).integer, 0)
        for key in keys { XCTAssertEqual(try client.checked("GET", key).string, key) }
        try cluster.moveSlot(slot, to: source)
        XCTAssertEqual(try cluster.owner(ofSlot: slot), source, "and back")
        XCTAssertEqual(try client.keys("relay:{s:\(session)}:*").count, keys.count)
    }

    func testAKilledPrimaryFailsOverAndRejoinsAsAReplica() throws {
        let cluster = try cluster()
        let client = try cluster.client()
        defer { client.close() }
        let key = "selftest:failover:\(UUID().uuidString)"
        try client.checked("SET", key, "kept")
        let victim = try cluster.owner(ofSlot: ClusterKeySlot.of(key))
        let victimNode = try cluster.nodeClient(port: victim)
        XCTAssertEqual(try victimNode.checked("WAIT", "1", "2000").integer, 1, "the write reached the replica")
        victimNode.close()

        let killed = Date()
        try cluster.kill(port: victim)
        let promoted = try cluster.waitForFailover(of: victim)
        let took = Date().timeIntervalSince(killed)
        print("cluster self-test: primary \(victim) SIGKILLed, \(promoted) promoted after \(String(format: "%.1f", took)) s")
        XCTAssertNotEqual(promoted, victim)
        XCTAssertEqual(try client.checked("GET", key).string, "kept", "the client found the new primary")
        XCTAssertLessThan(took, 20)

        try cluster.revive(port: victim)
        let rejoined = try XCTUnwrap(try cluster.topology().first { $0.port == victim })
        XCTAssertTrue(rejoined.isReplica, "the old primary came back as a replica: \(rejoined)")
        XCTAssertEqual(try cluster.primaries().count, 3)
        XCTAssertNil(cluster.unsettledReason())
    }
}
