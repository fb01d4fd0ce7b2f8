// ClusterHungPrimaryTests.swift: a primary that hangs instead of dying (SIGSTOP, as in a network
// partition: its kernel keeps every connection up, so nothing drops and no `sunsubscribe` comes)
// while its replica is promoted. Subscribers on two relay nodes must keep receiving the records
// appended after the promotion while the old primary still hangs, and in the end every
// acknowledged record reaches every subscriber exactly once, in order, and is drainable.
// Cluster mode only (see ClusterChaosTestCase).

import XCTest
import Foundation

final class ClusterHungPrimaryTests: ClusterChaosTestCase {
    func testStreamsFollowAPromotedReplicaWhileTheOldPrimaryHangs() throws {
        let sessions = try sessionsOnSeveralPrimaries(2)
        let session = sessions[0]
        let victim = try cluster.owner(ofSession: session)
        try runLoad(on: sessions) { load in
            let stopped = Date()
            try cluster.stop(port: victim)
            let promoted = try cluster.waitForFailover(of: victim)
            print("\(name): primary \(victim) SIGSTOPped; \(promoted) serves its slots after "
                + String(format: "%.1f", Date().timeIntervalSince(stopped)) + " s")
            XCTAssertEqual(try cluster.owner(ofSession: session), promoted)

            // Still hanging: a record acknowledged from now on must reach every subscriber.
            let before = load.lastAcknowledgedSeq(session) ?? 0
            try waitUntil(timeout: 20, interval: 0.05, "a record of \(session) acknowledged after the promotion") {
                (load.lastAcknowledgedSeq(session) ?? 0) > before
            }
            let target = load.lastAcknowledgedSeq(session) ?? 0
            let promotedAt = Date()
            try waitUntil(timeout: 20, interval: 0.05,
                          "every subscriber of \(session) to receive seq \(target) while \(victim) hangs: \(load.receivedIds(session))") {
                load.receivedIds(session).allSatisfy { ($0.lastId ?? 0) >= target }
            }
            print("\(name): seq \(target) delivered to every subscriber "
                + String(format: "%.1f", Date().timeIntervalSince(promotedAt)) + " s after its ack, old primary still stopped")
            try cluster.cont(port: victim)
        }
        for relay in relays { XCTAssertTrue(relay.isRunning, "relay \(relay.port) survived") }
    }
}
