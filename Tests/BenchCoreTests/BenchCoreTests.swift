// Unit tests of the load tester's pure parts: the SSE stamp scanner, gap and duplicate
// detection, the mergeable latency report, the loopback guard.
import XCTest
@testable import BenchCore

final class StampScannerTests: XCTestCase {
    private func stamps(_ chunks: [String]) -> ([Stamp], Int) {
        var scanner = StampScanner()
        var found: [Stamp] = []
        for chunk in chunks { scanner.feed(Array(chunk.utf8)) { found.append($0) } }
        return (found, scanner.unstamped)
    }

    func testRelayRecordsAndNchanBodies() {
        let (found, _) = stamps([
            "id: 1\ndata: {\"data\":{\"n\":1,\"t\":1700000000000001},\"id\":1}\n\n",
            "data: {\"n\":2,\"t\":42}\n\n",
        ])
        XCTAssertEqual(found, [Stamp(n: 1, t: 1_700_000_000_000_001), Stamp(n: 2, t: 42)])
    }

    func testLinesSplitAcrossChunksAndCRLF() {
        let event = "id: 7\r\ndata: {\"data\":{\"n\":7,\"t\":99},\"id\":7}\r\n\r\n"
        var chunks: [String] = []
        var rest = Substring(event)
        while !rest.isEmpty { chunks.append(String(rest.prefix(3))); rest = rest.dropFirst(3) }
        XCTAssertEqual(stamps(chunks).0, [Stamp(n: 7, t: 99)])
    }

    func testPingsIdsAndControlRecordsAreNotStamps() {
        let (found, unstamped) = stamps([": ping\n\n", "id: 3\nevent: control\ndata: {\"data\":null,\"id\":3,\"headers\":[]}\n\n"])
        XCTAssertTrue(found.isEmpty)
        XCTAssertEqual(unstamped, 1, "a data line without a stamp is counted")
    }

    func testNumberNeedsDigits() {
        XCTAssertNil(StampScanner.number(after: StampScanner.nKey, in: Array(#"{"n":"x"}"#.utf8)[...]))
        XCTAssertEqual(StampScanner.number(after: StampScanner.tKey, in: Array(#"{"t": 12}"#.utf8)[...]), 12)
    }
}

final class SequenceTrackerTests: XCTestCase {
    func testEveryNumberOnceHasNoGapsOrDuplicates() {
        var tracker = SequenceTracker()
        for n in 1...100 { tracker.observe(UInt64(n)) }
        XCTAssertEqual(tracker.missing, 0)
        XCTAssertEqual(tracker.duplicates, 0)
        XCTAssertEqual(tracker.received, 100)
    }

    func testReorderingIsNeitherGapNorDuplicate() {
        var tracker = SequenceTracker()
        for n: UInt64 in [2, 1, 4, 3, 5] { tracker.observe(n) }
        XCTAssertEqual(tracker.missing, 0)
        XCTAssertEqual(tracker.duplicates, 0)
    }

    func testHolesAreMissingAndRepeatsAreDuplicates() {
        var tracker = SequenceTracker()
        for n: UInt64 in [1, 2, 5, 5, 6, 200] { tracker.observe(n) }
        XCTAssertEqual(tracker.missing, 200 - 5, "3, 4 and 7...199 never arrived")
        XCTAssertEqual(tracker.duplicates, 1)
        XCTAssertEqual(tracker.highest, 200)
    }

    func testAMissingFirstRecordCounts() {
        var tracker = SequenceTracker()
        tracker.observe(2)
        XCTAssertEqual(tracker.missing, 1)
        var late = SequenceTracker(first: 10)
        late.observe(3)
        XCTAssertEqual(late.early, 1)
        XCTAssertEqual(late.missing, 0)
    }
}

final class LatencyReportTests: XCTestCase {
    func testPercentilesAndMerge() {
        var a = LatencyReport()
        for v in 1...1000 { a.record(latencyMicroseconds: UInt64(v) * 1000) }  // 1..1000 ms
        a.events = 1000
        var b = LatencyReport()
        b.record(latencyMicroseconds: 5_000_000)
        b.events = 1
        b.missing = 3
        a.merge(b)
        XCTAssertEqual(a.events, 1001)
        XCTAssertEqual(a.missing, 3)
        XCTAssertEqual(a.milliseconds(atPercentile: 50), 500, accuracy: 3, "3 significant digits")
        XCTAssertEqual(a.milliseconds(atPercentile: 99), 990, accuracy: 5)
        XCTAssertEqual(a.maxMilliseconds, 5000, accuracy: 5)
    }

    /// A broadcast's reach across processes: receivers add up, and the spread runs from the
    /// earliest publish stamp of any process to the latest arrival of any.
    func testBroadcastSpreadAndReceiversMerge() throws {
        var a = LatencyReport()
        a.receivers = 2
        a.noteArrival(stamp: 1_000_000, at: 1_004_000)
        a.noteArrival(stamp: 1_000_500, at: 1_003_000)
        var b = LatencyReport()
        b.receivers = 3
        b.noteArrival(stamp: 999_000, at: 1_002_000)
        var c = LatencyReport()
        c.receivers = 1
        c.noteArrival(stamp: 1_000_000, at: 1_009_000)
        a.merge(b)
        a.merge(c)
        a.merge(LatencyReport())  // a process that got nothing changes nothing
        XCTAssertEqual(a.receivers, 6)
        XCTAssertEqual(a.spreadMilliseconds, 10, accuracy: 0.001, "999,000 to 1,009,000 µs")
        let last = a.summary(label: "subscribe", seconds: 1).split(separator: "\n").last ?? ""
        let json = try JSONSerialization.jsonObject(with: Data(last.dropFirst("RESULT ".count).utf8)) as? [String: Any]
        XCTAssertEqual(json?["receivers"] as? Int, 6)
        XCTAssertEqual(json?["spread_ms"] as? Double, 10)
    }

    func testReportSurvivesJSONRoundTripAndEndsWithAResultLine() throws {
        var report = LatencyReport()
        report.record(latencyMicroseconds: 1500)
        report.events = 1
        let decoded = try JSONDecoder().decode(LatencyReport.self, from: try JSONEncoder().encode(report))
        XCTAssertEqual(decoded.histogram.totalCount, 1)
        let last = report.summary(label: "subscribe", seconds: 1).split(separator: "\n").last ?? ""
        XCTAssertTrue(last.hasPrefix("RESULT {\"kind\":\"subscribe\""))
        let json = try JSONSerialization.jsonObject(with: Data(last.dropFirst("RESULT ".count).utf8)) as? [String: Any]
        XCTAssertEqual(json?["events"] as? Int, 1)
        XCTAssertEqual(json?["gaps"] as? Int, 0)
    }

    func testLoopbackOnly() {
        XCTAssertTrue(isLoopback(host: "127.0.0.1"))
        XCTAssertTrue(isLoopback(host: "127.0.3.9"))
        XCTAssertTrue(isLoopback(host: "localhost"))
        XCTAssertFalse(isLoopback(host: "10.0.0.1"))
        XCTAssertFalse(isLoopback(host: "127.0.0"))
        XCTAssertFalse(isLoopback(host: "example.com"))
    }
}
