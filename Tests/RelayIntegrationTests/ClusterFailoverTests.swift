// ClusterFailoverTests.swift: issue 9's failover test. Two relay nodes with
// RELAY_REDIS_WAIT_REPLICAS=1 on a Redis Cluster of their own; subscribers on both nodes on four
// sessions' `.out`; a publisher per session retrying each X-Part-Id on 503 or a lost connection.
// A third of the way in, the primary that owns the first session's slot is SIGKILLed; its
// replica takes over, and the killed node is brought back (as a replica: WAIT 1 needs one
// again). Every acknowledged record must reach every subscriber exactly once, in order, and be
// drainable; no append attempt may hang (503 within the deadline). Cluster mode only (see
// ClusterChaosTestCase).

import XCTest
import Foundation

final class ClusterFailoverTests: ClusterChaosTestCase {
    override class var relayEnvironment: [String: String] { ["RELAY_REDIS_WAIT_REPLICAS": "1"] }

    func testKillingTheOwningPrimaryLosesNothingAcknowledged() throws {
        let sessions = try sessionsOnSeveralPrimaries(4)
        let victim = try cluster.owner(ofSession: sessions[0])
        try runLoad(on: sessions) {
            let killed = Date()
            try cluster.kill(port: victim)
            let promoted = try cluster.waitForFailover(of: victim)
            print("\(name): primary \(victim) SIGKILLed; \(promoted) serves its slots after "
                + String(format: "%.1f", Date().timeIntervalSince(killed)) + " s")
            XCTAssertEqual(try cluster.owner(ofSession: sessions[0]), promoted)
            try cluster.revive(port: victim)
        }
        for relay in relays { XCTAssertTrue(relay.isRunning, "relay \(relay.port) survived the failover") }
    }
}
