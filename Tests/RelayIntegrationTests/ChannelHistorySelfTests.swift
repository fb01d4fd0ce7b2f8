// ChannelHistorySelfTests.swift: the checks of issue 15's tests (HistoryCheck, HistoryItem) on
// made-up histories, no processes: a correctly signalled loss passes, and each way the issue
// saw history lie is caught. If this fails, a failing ClusterLostHistoryTests says nothing.

import XCTest
import Foundation

final class ChannelHistorySelfTests: XCTestCase {
    private typealias Ack = HistoryCheck.Ack
    private let b = 1_800_000_000_000_001  // a new block's marker

    private func record(_ id: Int, _ body: String) -> HistoryItem { .record(id: id, body: body) }
    private func acks(_ pairs: [(Int, String)]) -> [[Ack]] { [pairs.map { Ack(seq: $0.0, body: $0.1) }] }

    func testASignalledLossPasses() {
        let drain = [record(1, "a"), record(2, "b"), .lost(id: b, after: 2, before: b), record(b + 1, "e"), record(b + 2, "end")]
        let live = [record(1, "a"), record(2, "b"), record(3, "c"), record(4, "d"), .lost(id: nil, after: 2, before: 5),
                    .lost(id: b, after: 2, before: b), record(b + 1, "e"), record(b + 2, "end")]
        let resumedLate = [record(1, "a"), record(2, "b"), record(3, "c"), .lost(id: b, after: 2, before: b), record(b + 1, "e"), record(b + 2, "end")]
        let check = HistoryCheck(drain: drain,
                                 observers: [.init(name: "live", items: live, startAfter: 0, reachedEnd: true),
                                             .init(name: "late", items: resumedLate, startAfter: 0, reachedEnd: true)],
                                 publisherAcks: acks([(1, "a"), (2, "b"), (3, "c"), (4, "d"), (b + 1, "e"), (b + 2, "end")]),
                                 readCommitted: false)
        XCTAssertEqual(check.problems(), [])
        var committed = check
        committed.readCommitted = true
        XCTAssertEqual(committed.problems().count, 3, "read-committed: two subscribers saw lost records, two acks lost:\n"
            + committed.problems().joined(separator: "\n"))
    }

    func testTheIssuesWait0BugIsCaught() {
        // 3 and 4 vanished with the primary and were handed out again; nobody was told.
        let drain = [record(1, "a"), record(2, "b"), record(3, "e"), record(4, "end")]
        let live = [record(1, "a"), record(2, "b"), record(3, "c"), record(4, "d"), record(5, "end")]
        let problems = HistoryCheck(drain: drain, observers: [.init(name: "live", items: live, startAfter: 0, reachedEnd: true)],
                                    publisherAcks: acks([(1, "a"), (2, "b"), (3, "c"), (4, "d"), (3, "e"), (4, "end")]),
                                    readCommitted: false).problems()
        XCTAssertTrue(problems.contains { $0.hasPrefix("guarantee 1:") }, problems.joined(separator: "\n"))
        XCTAssertTrue(problems.contains { $0.hasPrefix("guarantee 2:") }, problems.joined(separator: "\n"))
        XCTAssertTrue(problems.contains { $0.hasPrefix("guarantee 3:") }, problems.joined(separator: "\n"))
    }

    func testTheIssuesWait1ReorderingIsCaught() {
        let drain = [record(300, "B"), record(301, "x"), record(302, "A"), record(303, "C")]
        let live = [record(300, "A"), record(301, "x"), record(302, "C"), record(303, "B")]
        let problems = HistoryCheck(drain: drain, observers: [.init(name: "live", items: live, startAfter: 299, reachedEnd: true)],
                                    publisherAcks: acks([(300, "B"), (301, "x"), (302, "A"), (303, "C")]), readCommitted: true).problems()
        XCTAssertTrue(problems.contains { $0.hasPrefix("guarantee 1: 3 seqs") }, problems.joined(separator: "\n"))
        XCTAssertTrue(problems.contains { $0.hasPrefix("guarantee 4") }, problems.joined(separator: "\n"))
    }

    func testASkipAndARecordInsideALostRangeAreCaught() {
        let drain = [record(1, "a"), record(2, "b"), record(3, "c"), .lost(id: b, after: 3, before: b), record(b + 1, "end")]
        let skipped = [record(1, "a"), record(3, "c"), .lost(id: b, after: 3, before: b), record(b + 1, "end")]
        let toldTooMuch = [record(1, "a"), record(2, "b"), record(3, "c"), .lost(id: nil, after: 2, before: 4),
                           .lost(id: b, after: 3, before: b), record(b + 1, "end")]
        let problems = HistoryCheck(drain: drain,
                                    observers: [.init(name: "skipped", items: skipped, startAfter: 0, reachedEnd: true),
                                                .init(name: "told", items: toldTooMuch, startAfter: 0, reachedEnd: true)],
                                    publisherAcks: [], readCommitted: false).problems()
        XCTAssertTrue(problems.contains { $0.hasPrefix("guarantee 2: skipped") && $0.contains("1 drained items never delivered") },
                      problems.joined(separator: "\n"))
        XCTAssertTrue(problems.contains { $0.hasPrefix("guarantee 1/3: 1 drained records lie inside") }, problems.joined(separator: "\n"))
        XCTAssertTrue(problems.contains { $0.hasPrefix("guarantee 2: told") }, "told drops 3, which the drain has:\n" + problems.joined(separator: "\n"))
    }

    func testLossSignalsParseStrictly() throws {
        let marker = SSEEvent(id: "\(b)", event: "lost", data: "{\"data\":null,\"id\":\(b),\"lost\":{\"after\":299,\"before\":\(b)}}")
        XCTAssertEqual(try HistoryItem.parse(marker), .lost(id: b, after: 299, before: b))
        let pastEnd = SSEEvent(id: "3", event: "lost", data: "{\"data\":null,\"lost\":{\"after\":3,\"before\":1001}}")
        XCTAssertEqual(try HistoryItem.parse(pastEnd), .lost(id: nil, after: 3, before: 1001))
        XCTAssertThrowsError(try HistoryItem.parse(SSEEvent(id: "5", event: "lost", data: "{\"data\":null,\"lost\":{\"after\":3,\"before\":1001}}")),
                             "a past-the-end notice's id is where the channel ends")
        XCTAssertThrowsError(try HistoryItem.parse(SSEEvent(id: "7", event: "lost", data: "{\"data\":null,\"id\":7,\"lost\":{\"after\":3,\"before\":6}}")),
                             "a marker's before is its own id")
        XCTAssertThrowsError(try HistoryItem.parse(SSEEvent(id: nil, event: "lost", data: "{\"data\":null,\"id\":7,\"lost\":{\"after\":3,\"before\":7}}")),
                             "a marker without its id line")
        let drained: JSON = ["data": .null, "id": .number(Double(b)), "seqNum": .number(Double(b)), "lost": ["after": 299, "before": .number(Double(b))]]
        XCTAssertEqual(try HistoryItem.parse(drainRecord: drained), .lost(id: b, after: 299, before: b))
        XCTAssertEqual(try HistoryItem.parse(SSEEvent(id: "5", data: "{\"data\":\"x\",\"id\":5}")), .record(id: 5, body: "x"))
    }
}
