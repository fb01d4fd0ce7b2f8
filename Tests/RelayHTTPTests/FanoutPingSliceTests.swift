// Pings go out slice by slice from the hub's own per-slice lists (not by walking every feed),
// and the hub's subscriber counts are kept as subscribers attach and leave.
import RelayCore
@testable import RelayHTTP
@testable import RelayIO
import XCTest

extension FanoutHubTests {
    /// `n` live subscribers, each on a channel of its own (session "p<i>").
    func liveClientsOnOwnChannels(_ n: Int) -> [Client] {
        (0..<n).map { i in
            let client = open(session: "p\(i)")
            pubsub.confirm(log.channelName(session: "p\(i)", io: .output))
            _ = log.answerNext()
            flush()
            XCTAssertNotNil(client.output.status, "subscriber \(i) started")
            return client
        }
    }

    func pings(_ client: Client) -> Int { client.output.frames.filter { $0 === hub.pingFrame }.count }

    func testEverySubscriberIsPingedOncePerIntervalAndNoneAfterItLeft() {
        let clients = liveClientsOnOwnChannels(40)
        XCTAssertEqual(hub.subscriberCount, 40)
        XCTAssertEqual(hub.subscriberCount(io: .output), 40)
        XCTAssertEqual(hub.subscriberCount(io: .input), 0)
        XCTAssertEqual(hub.feedCount, 40)

        spin(15.5)   // 16 slices of 15/16 s: every slice once
        XCTAssertEqual(clients.map(pings), Array(repeating: 1, count: 40))

        clients[7].output.clientLeaves()
        clients[8].output.clientLeaves()
        XCTAssertEqual(hub.subscriberCount, 38)
        XCTAssertEqual(hub.subscriberCount(io: .output), 38)
        spin(15)
        XCTAssertEqual(pings(clients[7]), 1)
        XCTAssertEqual(pings(clients[8]), 1)
        XCTAssertEqual(clients.enumerated().filter { $0.offset != 7 && $0.offset != 8 }.map { pings($0.element) },
                       Array(repeating: 2, count: 38))
    }

    func testManyEndedSubscribersAreSweptAndTheRestStillPinged() {
        // More than 1,024 ended subscribers, and more than live ones: every slice is swept at
        // once, not only as each slice comes round.
        let leaving = (0..<1_100).map { _ in open(session: "churn") }
        pubsub.confirm(log.channelName(session: "churn", io: .output))
        for _ in leaving { _ = log.answerNext() }
        flush()
        let stays = liveClientsOnOwnChannels(3)
        XCTAssertEqual(hub.pingSlotEntries, 1_103)
        for client in leaving { client.output.clientLeaves() }
        XCTAssertEqual(hub.subscriberCount, 3)
        // The 1,025th to leave swept the slices; the 75 after it wait for their slices.
        XCTAssertEqual(hub.pingSlotEntries, 3 + 75)
        spin(15.5)
        XCTAssertEqual(hub.pingSlotEntries, 3, "each slice dropped its ended subscribers when it came round")
        XCTAssertEqual(stays.map(pings), [1, 1, 1])
        XCTAssertTrue(leaving.allSatisfy { pings($0) == 0 })
    }
}
