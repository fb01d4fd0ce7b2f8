// TailReadTests.swift: what reconnecting UIs read besides the full stream: `retry:` first,
// `Last-Event-ID: latest` (no history), HEAD for the channel's last id, and X-Peek-Settled on
// a .out whose last record is a turn-complete.

import XCTest
import Foundation

final class TailReadTests: RelayTestCase {
    private func turnComplete(_ session: String) throws {
        XCTAssertEqual(try api.control(session, ["subtype": "turn-complete"]).status, 200)
    }

    func testEveryStreamStartsWithRetry() throws {
        let session = try api.newSession()
        let stream = try api.subscribe(session, "out", headers: [("Timeout-Seconds", "2")])
        defer { stream.close() }
        let first = try XCTUnwrap(try stream.nextEvent(timeout: 5))
        XCTAssertEqual(first.retry, "1000", "the first block sets the reconnect delay")
        XCTAssertNil(first.data)
    }

    func testLatestStartsAtTheEndOfTheChannel() throws {
        let session = try api.newSession()
        for i in 1...3 { XCTAssertEqual(try api.append(session, "out", "old \(i)").status, 200) }
        for (headers, query) in [([("Last-Event-ID", "latest")], []), ([], [("lastEventId", "latest")])] {
            let stream = try api.subscribe(session, "out", headers: headers + [("Timeout-Seconds", "5")], query: query)
            defer { stream.close() }
            XCTAssertEqual(stream.status, 200)
            let appended = try api.append(session, "out", "new").json()["seq"]?.intValue
            let event = try XCTUnwrap(try stream.nextDataEvent(timeout: 5))
            XCTAssertEqual(event.id, appended.map(String.init), "no history, only what came after the stream opened")
        }
        assertError(try api.http.request("GET", RelayAPI.channelPath(session, "out"), headers: [("Last-Event-ID", "oldest")]),
                    400, mentioning: ["latest"])
    }

    func testHeadAnswersTheLastIdWithoutABody() throws {
        let session = try api.newSession()
        let empty = try api.http.request("HEAD", RelayAPI.channelPath(session, "in"))
        XCTAssertEqual(empty.status, 200)
        XCTAssertEqual(empty.headers["X-Last-Event-Id"], "0")
        for i in 1...4 { XCTAssertEqual(try api.append(session, "in", "m\(i)").status, 200) }
        let head = try api.http.request("HEAD", RelayAPI.channelPath(session, "in"))
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.headers["X-Last-Event-Id"], "4")
        XCTAssertTrue(head.body.isEmpty)
        XCTAssertNil(head.headers["Content-Type"].flatMap { $0.contains("event-stream") ? $0 : nil })
        // The same rules as a read: another session's token gets the read's 403.
        let other = try api.newSession()
        let token = try devToken(["read:sessions:\(other)"])
        XCTAssertEqual(try api(bearer: token).http.request("HEAD", RelayAPI.channelPath(session, "in")).status, 403)
    }

    /// With X-Peek-Settled a settled .out (last record a turn-complete) answers
    /// X-Session-Settled: true and ends once it has sent what follows the given id, instead of
    /// waiting out Timeout-Seconds; an unsettled one says false and streams on.
    func testPeekSettled() throws {
        let session = try api.newSession()
        XCTAssertEqual(try api.append(session, "out", "answer").status, 200)
        try turnComplete(session)
        let started = Date()
        let settled = try api.subscribe(session, "out", headers: [("X-Peek-Settled", "1"), ("Timeout-Seconds", "30"),
                                                                  ("Last-Event-ID", "0")])
        defer { settled.close() }
        XCTAssertEqual(settled.headers["X-Session-Settled"], "true")
        XCTAssertEqual(try settled.nextDataEvent(timeout: 5)?.id, "1")
        XCTAssertEqual(try settled.nextDataEvent(timeout: 5)?.event, "control")
        XCTAssertNil(try settled.nextDataEvent(timeout: 5), "the stream ends after the turn-complete")
        XCTAssertLessThan(Date().timeIntervalSince(started), 10, "not at the 30 s timeout")

        XCTAssertEqual(try api.append(session, "out", "more").status, 200)
        let open = try api.subscribe(session, "out", headers: [("X-Peek-Settled", "1"), ("Timeout-Seconds", "2"),
                                                               ("Last-Event-ID", "2")])
        defer { open.close() }
        XCTAssertEqual(open.headers["X-Session-Settled"], "false")
        XCTAssertEqual(try open.nextDataEvent(timeout: 5)?.id, "3")
        XCTAssertEqual(try api.append(session, "out", "live").status, 200)
        XCTAssertEqual(try open.nextDataEvent(timeout: 5)?.id, "4", "an unsettled stream stays live")
    }
}
