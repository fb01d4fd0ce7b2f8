// ClusterFailoverTests: a primary SIGKILLed under the router, on a cluster of its own
// (cluster-node-timeout 2000 ms): commands answer within their deadline while the slot has no
// primary, the router finds the promoted replica by itself, and commands then succeed.
import Glibc
import Logging
import XCTest
@testable import RelayRedis
@testable import RelayStorage
import RelayIO

final class ClusterFailoverTests: XCTestCase {
    private var cluster: RedisCluster?

    override func setUpWithError() throws {
        guard RedisCluster.available else { throw XCTSkip("redis-server / redis-cli not installed") }
        let cluster = try RedisCluster()
        self.cluster = cluster
        try cluster.start()
    }

    override func tearDown() {
        cluster?.destroy()
        cluster = nil
    }

    func testAKilledPrimaryIsFollowedToItsPromotedReplica() throws {
        let cluster = try XCTUnwrap(cluster)
        let loop = EventLoop()
        let client = ClusterClient(loop: loop, seeds: cluster.seeds, options: RedisNodeOptions(commandTimeoutSeconds: 2), logger: Logger(label: "test"))
        client.start()
        defer { client.stop() }
        let connected: Void? = loop.wait(10) { done in
            client.onConnected.append { if client.allPrimariesConnected { done(()) } }
        }
        XCTAssertNotNil(connected)

        let key = "{failover}key"
        let slot = ClusterSlot.of(key)
        let other = "{elsewhere}key"
        let primary = try XCTUnwrap(client.primary(slot: slot))
        XCTAssertNotEqual(client.primary(slot: ClusterSlot.of(other)), primary, "a key on another shard (else pick another tag)")
        let replicaPort = try XCTUnwrap(cluster.replicaPort(ofPrimary: primary.port))
        let send = { (args: [String]) -> RedisReply? in loop.wait(10) { done in client.send(key: args[1], args, done) } }
        XCTAssertEqual(send(["SET", key, "before"]), .status("OK"))

        XCTAssertEqual(kill(try XCTUnwrap(cluster.pid(port: primary.port)), SIGKILL), 0)

        // While the slot has no primary: a command every 100 ms, each answered within its
        // deadline (plus scheduling slack), never hanging; the other shard keeps working.
        // The router tells of the new owner through onChange.
        var promoted = false
        client.onChange.append { if client.primary(slot: slot)?.port == replicaPort { promoted = true } }
        let killed = Clock.monotonicSeconds()
        var failures = 0
        var slowest = 0.0
        while !promoted && Clock.monotonicSeconds() - killed < 15 {
            let started = Clock.monotonicSeconds()
            let reply = send(["SET", key, "during"])
            slowest = max(slowest, Clock.monotonicSeconds() - started)
            XCTAssertNotNil(reply, "answered")
            if reply?.errorMessage != nil { failures += 1 }
            XCTAssertEqual(send(["SET", other, "x"]), .status("OK"), "the other shards are unaffected")
            loop.runFor(0.1)   // pacing (one try per 100 ms), not synchronisation
        }
        XCTAssertTrue(promoted, "the replica on \(replicaPort) was promoted and the router found it within 15 s")
        XCTAssertGreaterThan(failures, 0, "the window without a primary was seen")
        XCTAssertLessThan(slowest, client.commandTimeoutSeconds + 0.6, "no command waited past its deadline")

        XCTAssertEqual(send(["SET", key, "after"]), .status("OK"), "commands succeed on the promoted replica")
        XCTAssertEqual(cluster.cli(replicaPort, "GET", key), "after")
        XCTAssertFalse(client.primaries.contains(primary), "the dead primary left the map")
        print("failover: \(failures) failed commands, slowest answer \(String(format: "%.2f", slowest)) s, promoted after \(String(format: "%.1f", Clock.monotonicSeconds() - killed)) s, retries \(client.stats.retries), refreshes \(client.stats.refreshes)")
    }
}
