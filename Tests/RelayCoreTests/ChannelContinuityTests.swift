// The decisions behind the history guarantees (docs/API.md): what a reader at a position does
// with the next entry, when records were trimmed away, when a position is past the end.
import RelayCore
import XCTest

final class ChannelContinuityTests: XCTestCase {
    func testRecordsTakeOnlyTheNextSeq() {
        XCTAssertEqual(ChannelContinuity.offer(delivered: 4, seq: 5, previous: 4), .take)
        XCTAssertEqual(ChannelContinuity.offer(delivered: 4, seq: 4, previous: 3), .skip)
        XCTAssertEqual(ChannelContinuity.offer(delivered: 4, seq: 7, previous: 6), .readLog)
    }

    /// A loss marker follows the last seq kept: every reader at or past it takes the marker,
    /// including one that was given records the marker declares lost.
    func testALossMarkerIsTakenByEveryReaderAtOrPastWhatWasKept() {
        let marker: UInt64 = 1_796_419_326_000_001
        XCTAssertEqual(ChannelContinuity.offer(delivered: 299, seq: marker, previous: 299), .take)
        XCTAssertEqual(ChannelContinuity.offer(delivered: 452, seq: marker, previous: 299), .take)
        XCTAssertEqual(ChannelContinuity.offer(delivered: 200, seq: marker, previous: 299), .readLog)
        XCTAssertEqual(ChannelContinuity.offer(delivered: marker, seq: marker + 1, previous: marker), .take)
    }

    func testTrimIsReportedOnlyToPositionedReaders() {
        XCTAssertNil(ChannelContinuity.trimmed(delivered: 3, positioned: true, seq: 4, previous: 3))
        XCTAssertEqual(ChannelContinuity.trimmed(delivered: 3, positioned: true, seq: 8, previous: 7)?.firstAvailable, 8)
        XCTAssertEqual(ChannelContinuity.trimmed(delivered: 3, positioned: true, seq: 8, previous: 7)?.requested, 3)
        XCTAssertNil(ChannelContinuity.trimmed(delivered: 0, positioned: false, seq: 8, previous: 7),
                     "reading from the start of the retained window: nothing to tell")
        // A marker after the reader's position explains the jump; one after a trimmed stretch does not.
        XCTAssertNil(ChannelContinuity.trimmed(delivered: 5, positioned: true, seq: 900, previous: 5))
        XCTAssertEqual(ChannelContinuity.trimmed(delivered: 2, positioned: true, seq: 900, previous: 5)?.firstAvailable, 900)
    }

    func testPastTheEnd() {
        XCTAssertNil(ChannelContinuity.pastEnd(position: 3, last: 3))
        XCTAssertNil(ChannelContinuity.pastEnd(position: 0, last: 0))
        XCTAssertEqual(ChannelContinuity.pastEnd(position: 452, last: 299)?.after, 299)
        XCTAssertEqual(ChannelContinuity.pastEnd(position: 452, last: 299)?.before, 453)
        XCTAssertEqual(ChannelContinuity.pastEnd(position: .max, last: 0)?.before, .max, "no overflow")
    }

    func testLossSignalEncoding() {
        XCTAssertEqual(String(decoding: RecordEncoding.lossJSON(id: 900, after: 3, before: 900, includeSeqNum: true), as: UTF8.self),
                       #"{"data":null,"id":900,"seqNum":900,"lost":{"after":3,"before":900}}"#)
        XCTAssertEqual(String(decoding: SSEFrame.lost(id: nil, after: 3, before: 11), as: UTF8.self),
                       "id: 3\nevent: lost\ndata: {\"data\":null,\"lost\":{\"after\":3,\"before\":11}}\n\n",
                       "past the end: the SSE id is where the channel ends, the JSON names no record")
        XCTAssertEqual(String(decoding: SSEFrame.lost(id: 900, after: 3, before: 900), as: UTF8.self),
                       "id: 900\nevent: lost\ndata: {\"data\":null,\"id\":900,\"lost\":{\"after\":3,\"before\":900}}\n\n")
    }
}
