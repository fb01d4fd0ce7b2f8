// ClusterClientTestCase: one real cluster (RedisCluster, through scripts/dev-cluster: three
// primaries, three replicas) per test class, and for each test a ClusterClient on its own loop with every
// primary connected (10 s at most).
import Logging
import XCTest
@testable import RelayRedis
@testable import RelayStorage
import RelayIO

class ClusterClientTestCase: XCTestCase {
    private static var clusters: [ObjectIdentifier: RedisCluster] = [:]
    /// This class's cluster (nil if it did not start; the test then fails in setUp).
    var cluster: RedisCluster? { Self.clusters[ObjectIdentifier(type(of: self))] }
    var loop: EventLoop!
    var client: ClusterClient!

    override class func setUp() {
        super.setUp()
        guard RedisCluster.available else { return }
        do {
            let cluster = try RedisCluster()
            do { try cluster.start() } catch { cluster.destroy(); throw error }
            clusters[ObjectIdentifier(self)] = cluster
        } catch { print("\(self): \(error)") }
    }

    override class func tearDown() {
        clusters.removeValue(forKey: ObjectIdentifier(self))?.destroy()
        super.tearDown()
    }

    override func setUpWithError() throws {
        guard RedisCluster.available else { throw XCTSkip("redis-server / redis-cli not installed") }
        let cluster = try XCTUnwrap(self.cluster, "the cluster did not start")
        loop = EventLoop()
        try connect(RedisNodeOptions(replicatedWrites: true, subscriptions: false))
    }

    /// (Re)makes `client` with `options` and waits until every primary is connected.
    func connect(_ options: RedisNodeOptions) throws {
        let cluster = try XCTUnwrap(self.cluster, "the cluster did not start")
        client?.stop()
        client = ClusterClient(loop: loop, seeds: cluster.seeds, options: options, logger: Logger(label: "test"))
        client.start()
        let connected: Void? = loop.wait(10) { [client] done in
            if client!.allPrimariesConnected { return done(()) }
            client!.onConnected.append { if client!.allPrimariesConnected { done(()) } }
        }
        XCTAssertNotNil(connected, "every primary connected within 10 s")
        XCTAssertTrue(client.isConnected)
        XCTAssertEqual(client.primaries.count, 3)
    }

    override func tearDown() {
        client?.stop()
        client = nil
        loop = nil
    }
}
