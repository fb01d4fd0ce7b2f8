// ClusterReshardTests.swift: issue 9's resharding test. The same load as ClusterFailoverTests
// (two relay nodes with RELAY_REDIS_WAIT_REPLICAS=1, subscribers on both, publishers retrying
// each X-Part-Id); a third of the way in, the slot of every session (hash tag `s:<id>`) moves
// to another primary with its keys, as `redis-cli --cluster reshard` does it (SETSLOT
// IMPORTING/MIGRATING, MIGRATE in batches, SETSLOT NODE). Every acknowledged record must reach
// every subscriber exactly once, in order, and be drainable, and the sessions' keys
// (`relay:{s:<id>}:...`) must all be on their new primaries. Cluster mode only (see
// ClusterChaosTestCase).

import XCTest
import Foundation

final class ClusterReshardTests: ClusterChaosTestCase {
    override class var relayEnvironment: [String: String] { ["RELAY_REDIS_WAIT_REPLICAS": "1"] }

    func testMovingTheSessionsSlotsMidStreamLosesNothing() throws {
        let sessions = try sessionsOnSeveralPrimaries(4)
        let primaries = try cluster.primaries().map(\.port)
        // Each session's slot goes to the next primary (port order) after its current owner.
        var destinations: [String: UInt16] = [:]
        for session in sessions {
            let owner = try cluster.owner(ofSession: session)
            let index = try XCTUnwrap(primaries.firstIndex(of: owner))
            destinations[session] = primaries[(index + 1) % primaries.count]
        }
        try runLoad(on: sessions) {
            for session in sessions {
                let slot = ClusterKeySlot.ofSession(session)
                let started = Date()
                try cluster.moveSlot(slot, to: destinations[session]!)
                print("\(name): slot \(slot) of \(session) moved to \(destinations[session]!) in "
                    + String(format: "%.2f", Date().timeIntervalSince(started)) + " s")
            }
        }
        for session in sessions {
            let owner = try cluster.owner(ofSession: session)
            XCTAssertEqual(owner, destinations[session], "\(session) is served by its new primary")
            let pattern = "relay:{s:\(session)}:*"
            let elsewhere = try primaries.filter { $0 != owner }.flatMap { port -> [String] in
                let node = try cluster.nodeClient(port: port)
                defer { node.close() }
                return try node.keys(pattern)
            }
            XCTAssertEqual(elsewhere, [], "no key of \(session) left behind")
            let node = try cluster.nodeClient(port: owner)
            defer { node.close() }
            XCTAssertFalse(try node.keys(pattern).isEmpty, "\(session)'s keys are on \(owner)")
        }
    }
}
