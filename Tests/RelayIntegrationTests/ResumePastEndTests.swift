// ResumePastEndTests.swift: a position past a channel's end (issue 15: it comes from a history
// that was lost) gets an explicit `lost` signal at once, never an indefinite wait: an SSE resume
// gets `event: lost` with `id: E`, `{"data":null,"lost":{"after":E,"before":N+1}}`, then the records
// appended after E; a drain gets `{"records":[],"hasMore":false,"lost":{...}}`. A position at or
// before the end gets nothing of the kind. Runs in both modes.

import XCTest
import Foundation

final class ResumePastEndTests: RelayTestCase {
    func testAResumePastTheEndIsToldAtOnceThenGetsWhatIsAppended() throws {
        let session = try channelWithThreeRecords()
        for (how, stream) in [
            ("Last-Event-ID", try api.subscribe(session, "out", headers: [("Last-Event-ID", "1000"), ("Timeout-Seconds", "30")])),
            ("?lastEventId", try api.subscribe(session, "out", headers: [("Timeout-Seconds", "30")], query: [("lastEventId", "1000")])),
        ] {
            XCTAssertEqual(stream.status, 200, how)
            let opened = Date()
            let event = try XCTUnwrap(try stream.nextDataEvent(timeout: 5), "\(how): the stream ended")
            XCTAssertLessThan(Date().timeIntervalSince(opened), 2, "\(how): the signal comes at once")
            XCTAssertEqual(event.id, "3", "\(how): the past-end signal's id is where the channel ends (where to resume): \(event)")
            XCTAssertEqual(event.event, "lost", "\(how): \(event)")
            XCTAssertEqual(try event.json(), ["data": .null, "lost": ["after": 3, "before": 1001]], "\(how): \(event)")
            streams.append(stream)
        }
        let appended = try api.append(session, "out", "four")
        XCTAssertEqual(try appended.json()["seq"], 4, "same generation: the seqs go on")
        for (index, stream) in streams.enumerated() {
            let event = try XCTUnwrap(try stream.nextDataEvent(timeout: 10), "stream \(index) ended")
            XCTAssertEqual(try HistoryItem.parse(event), .record(id: 4, body: "four"), "stream \(index): the records after the end follow")
        }
    }

    /// The high watermark stops readers (drains, HEAD, streams) at the last confirmed record. A
    /// watermark written under another replication ID (a promoted replica's copy may lag the
    /// records it holds) stops no one: a reader never waits for a watermark that will not move.
    func testReadersStopAtTheWatermarkOnlyUnderItsOwnGeneration() throws {
        let session = try channelWithThreeRecords()
        let client = try redis.client()
        let meta = "relay:{s:\(session)}:meta"
        try client.checked("HSET", meta, "hw:out", "1")
        XCTAssertEqual(try api.drain(session, "out").json()["records"]?.arrayValue?.count, 1, "records 2-3 are not confirmed")
        XCTAssertEqual(try api.http.request("HEAD", RelayAPI.channelPath(session, "out")).headers["X-Last-Event-Id"], "1")
        try client.checked("HSET", meta, "gen:out", "a-replication-id-from-before-a-failover")
        XCTAssertEqual(try api.drain(session, "out").json()["records"]?.arrayValue?.count, 3, "the primary of record shows all it holds")
        XCTAssertEqual(try api.http.request("HEAD", RelayAPI.channelPath(session, "out")).headers["X-Last-Event-Id"], "3")
    }

    func testAResumeAtTheEndOrBeforeGetsNoLossSignal() throws {
        let session = try channelWithThreeRecords()
        let atEnd = try api.subscribe(session, "out", headers: [("Last-Event-ID", "3"), ("Timeout-Seconds", "30")])
        let before = try api.subscribe(session, "out", headers: [("Last-Event-ID", "1"), ("Timeout-Seconds", "30")])
        XCTAssertEqual(try api.append(session, "out", "four").status, 200)
        XCTAssertEqual(try HistoryItem.parse(XCTUnwrap(try atEnd.nextDataEvent())), .record(id: 4, body: "four"),
                       "at the end: the next record first, no signal")
        var items: [HistoryItem] = []
        for _ in 0..<3 { items.append(try XCTUnwrap(try HistoryItem.parse(XCTUnwrap(try before.nextDataEvent())))) }
        XCTAssertEqual(items, [.record(id: 2, body: "r2"), .record(id: 3, body: "r3"), .record(id: 4, body: "four")])
    }

    func testAnEmptyChannelResumedPastItsEndIsTold() throws {
        let session = try api.newSession()
        let stream = try api.subscribe(session, "out", headers: [("Last-Event-ID", "5"), ("Timeout-Seconds", "30")])
        let event = try XCTUnwrap(try stream.nextDataEvent(timeout: 5))
        XCTAssertEqual(try HistoryItem.parse(event), .lost(id: nil, after: 0, before: 6), "\(event)")
        let drained = try api.drain(session, "out", query: [("afterEventId", "5")])
        XCTAssertEqual(try drained.json(), ["records": [], "hasMore": false, "lost": ["after": 0, "before": 6]])
    }

    func testADrainPastTheEndSaysWhatIsGone() throws {
        let session = try channelWithThreeRecords()
        let past = try api.drain(session, "out", query: [("afterEventId", "1000")])
        XCTAssertEqual(past.status, 200, past.description)
        XCTAssertEqual(try past.json(), ["records": [], "hasMore": false, "lost": ["after": 3, "before": 1001]])
        let limited = try api.drain(session, "out", query: [("afterEventId", "1000"), ("limit", "1")])
        XCTAssertEqual(try limited.json(), ["records": [], "hasMore": false, "lost": ["after": 3, "before": 1001]])

        let atEnd = try api.drain(session, "out", query: [("afterEventId", "3")])
        XCTAssertEqual(try atEnd.json(), ["records": [], "hasMore": false], "at the end: nothing to report")
        let beforeEnd = try api.drain(session, "out", query: [("afterEventId", "2")])
        XCTAssertEqual(try beforeEnd.json(), ["records": [["data": "r3", "id": 3, "seqNum": 3]], "hasMore": false])
        XCTAssertEqual(try drainHistory(api, session), [.record(id: 1, body: "r1"), .record(id: 2, body: "r2"), .record(id: 3, body: "r3")])
    }

    private var streams: [SSEConnection] = []

    override func tearDown() {
        streams.forEach { $0.close() }
        streams = []
        super.tearDown()
    }

    private func channelWithThreeRecords() throws -> String {
        let session = try api.newSession()
        for i in 1...3 {
            let response = try api.append(session, "out", "r\(i)")
            XCTAssertEqual(try response.json()["seq"], .number(Double(i)), response.description)
        }
        return session
    }
}
