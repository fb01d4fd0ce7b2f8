// ChannelTests.swift: docs/API.md, Channels against two relay nodes sharing one Redis:
// append on A, read on B; resume across nodes; idle timeout; pings; body limits; dedup;
// control records; drain; closed sessions; gaps; channel authorization.

import XCTest
import Foundation

final class ChannelTests: RelayTestCase {
    override class var relayEnvironment: [String: String] {
        ["RELAY_PING_INTERVAL_SECONDS": "0.5", "RELAY_MAX_RECORDS_PER_CHANNEL": "10"]
    }

    private static var nodeB: RelayProcess?

    /// A second relay on the same Redis (started once per class).
    var apiB: RelayAPI {
        get throws {
            if ChannelTests.nodeB == nil {
                let node = try RelayProcess(redisURL: redis.url, environment: Self.relayEnvironment)
                try node.start()
                ChannelTests.nodeB = node
            }
            return RelayAPI(port: ChannelTests.nodeB!.port, bearer: TestEnvironments.devKey)
        }
    }

    override class func tearDown() {
        nodeB?.destroy()
        nodeB = nil
        super.tearDown()
    }

    // MARK: Fan-out across nodes

    func testThousandRecordsAppendedOnAArriveOnBInOrderWithoutGapsOrDuplicates() throws {
        let session = try api.newSession()
        let stream = try apiB.subscribe(session, "out", headers: [("Timeout-Seconds", "30")])
        XCTAssertEqual(stream.status, 200)
        XCTAssertEqual(stream.headers["Content-Type"], "text/event-stream")
        let count = 1000
        let sentAt = ResultTimes(count: count)
        let appender = Thread { [api] in
            for i in 1...count {
                sentAt.set(i, Date())
                _ = try? api.append(session, "out", #"{"i":\#(i)}"#)
            }
        }
        appender.start()
        var latencies: [Double] = []
        for expected in 1...count {
            guard let event = try stream.nextDataEvent(timeout: 20) else { return XCTFail("stream ended at \(expected)") }
            let now = Date()
            XCTAssertEqual(event.id, String(expected), "records out of order or with a gap")
            let json = try event.json()
            XCTAssertEqual(json["id"]?.intValue, expected)
            XCTAssertEqual(json["data"]?["i"]?.intValue, expected)
            if let sent = sentAt.get(expected) { latencies.append(now.timeIntervalSince(sent) * 1000) }
        }
        latencies.sort()
        let p50 = latencies[latencies.count / 2], p99 = latencies[latencies.count * 99 / 100]
        print("fan-out latency A->B over \(latencies.count) records: p50 \(String(format: "%.2f", p50)) ms, p99 \(String(format: "%.2f", p99)) ms")
    }

    func testResumeWithLastEventIdOnTheOtherNode() throws {
        let session = try api.newSession()
        for i in 1...5 { XCTAssertEqual(try api.append(session, "in", "m\(i)").status, 200) }
        let first = try api.subscribe(session, "in", headers: [("Timeout-Seconds", "5")])
        var lastId = ""
        for _ in 1...3 { lastId = try XCTUnwrap(try first.nextDataEvent()?.id) }
        first.close()
        XCTAssertEqual(lastId, "3")
        let resumed = try apiB.subscribe(session, "in", headers: [("Last-Event-ID", lastId), ("Timeout-Seconds", "5")])
        XCTAssertEqual(try resumed.nextDataEvent()?.id, "4")
        XCTAssertEqual(try resumed.nextDataEvent()?.id, "5")
        XCTAssertEqual(try api.append(session, "in", "m6").status, 200)
        let live = try XCTUnwrap(try resumed.nextDataEvent())
        XCTAssertEqual(live.id, "6")
        XCTAssertEqual(try live.json()["data"]?.stringValue, "m6")
        // The browser spelling of the same thing.
        let viaQuery = try apiB.subscribe(session, "in", query: [("lastEventId", "5"), ("timeoutSeconds", "2")])
        XCTAssertEqual(try viaQuery.nextDataEvent()?.id, "6")
    }

    // MARK: Idle timeout and pings

    func testIdleTimeoutEndsTheStreamAfterTSecondsAndARecordResetsIt() throws {
        let session = try api.newSession()
        let started = Date()
        let quiet = try api.subscribe(session, "out", headers: [("Timeout-Seconds", "1")])
        while try quiet.nextEvent(timeout: 5) != nil {}
        let quietElapsed = Date().timeIntervalSince(started)
        XCTAssertGreaterThanOrEqual(quietElapsed, 1.0)
        XCTAssertLessThan(quietElapsed, 2.0, "the idle stream should end between T and T+1 s")

        let reset = try apiB.subscribe(session, "out", headers: [("Timeout-Seconds", "2")])
        let opened = Date()
        Thread.sleep(forTimeInterval: 1.2)  // the gap between records under test, not a synchronisation
        XCTAssertEqual(try api.append(session, "out", "keep me open").status, 200)
        XCTAssertEqual(try reset.nextDataEvent(timeout: 5)?.id, "1")
        while try reset.nextEvent(timeout: 5) != nil {}
        let elapsed = Date().timeIntervalSince(opened)
        XCTAssertGreaterThanOrEqual(elapsed, 3.2, "a record must reset the idle timer")
        XCTAssertLessThan(elapsed, 4.4)
    }

    func testPingsArriveAndDoNotResetTheIdleTimer() throws {
        let session = try api.newSession()
        let stream = try api.subscribe(session, "out", headers: [("Timeout-Seconds", "2")])
        let opened = Date()
        var pings = 0
        while let event = try stream.nextEvent(timeout: 5) {
            if event.comments.contains("ping") { pings += 1 }
        }
        let elapsed = Date().timeIntervalSince(opened)
        XCTAssertGreaterThanOrEqual(pings, 2, "pings every 0.5 s in this class")
        XCTAssertLessThan(elapsed, 3.0, "pings must not keep an idle stream open")
    }

    // MARK: Append rules

    func testBodyLimitsOneMebibyteAcceptedOneMoreByteRejected() throws {
        let session = try api.newSession()
        let exact = Data(repeating: UInt8(ascii: "a"), count: 1_048_576)
        let ok = try api.append(session, "in", exact)
        XCTAssertEqual(ok.status, 200, ok.description)
        let tooBig = try api.append(session, "in", exact + Data("b".utf8))
        XCTAssertEqual(tooBig.status, 413)
        XCTAssertEqual(try api.append(session, "in", Data()).status, 400)
        let drained = try api.drain(session, "in").json()
        XCTAssertEqual(drained["records"]?.arrayValue?.count, 1, "the oversized append must not be stored")
        XCTAssertEqual(drained["records"]?[0]?["data"]?.stringValue?.count, 1_048_576)
    }

    func testPartIdMakesAppendIdempotent() throws {
        let session = try api.newSession()
        let first = try api.append(session, "in", "hello", partId: "part-1").json()
        XCTAssertEqual(first["seq"]?.intValue, 1)
        XCTAssertNil(first["duplicate"])
        let again = try apiB.append(session, "in", "hello", partId: "part-1").json()
        XCTAssertEqual(again["seq"]?.intValue, 1)
        XCTAssertEqual(again["duplicate"]?.boolValue, true)
        XCTAssertEqual(try api.append(session, "in", "other", partId: "part-2").json()["seq"]?.intValue, 2)
        // The same part id on the other channel is another record.
        XCTAssertEqual(try api.append(session, "out", "hello", partId: "part-1").json()["duplicate"], nil)
        XCTAssertEqual(try api.drain(session, "in").json()["records"]?.arrayValue?.count, 2)
        XCTAssertEqual(try api.append(session, "in", "x", partId: String(repeating: "p", count: 257)).status, 400)
    }

    func testRecordJSONForJSONAndTextBodies() throws {
        let session = try api.newSession()
        _ = try api.append(session, "out", "{\"type\":\"text\",\n \"text\":\"hi\"}")
        _ = try api.append(session, "out", "not json \"quoted\"\nline two")
        let stream = try api.subscribe(session, "out", headers: [("Timeout-Seconds", "1")])
        let first = try XCTUnwrap(try stream.nextDataEvent())
        XCTAssertEqual(try first.json()["data"]?["text"]?.stringValue, "hi")
        let second = try XCTUnwrap(try stream.nextDataEvent())
        XCTAssertEqual(try second.json()["data"]?.stringValue, "not json \"quoted\"\nline two")
    }

    func testJSONNestedDeeperThan512LevelsIsRefusedNotStoredAsAString() throws {
        let session = try api.newSession()
        let deep = String(repeating: "[", count: 513) + String(repeating: "]", count: 513)
        let refused = try api.append(session, "in", deep)
        XCTAssertEqual(refused.status, 400, "\(refused)")
        let body = try refused.json()
        XCTAssertEqual(body["ok"], false)
        XCTAssertTrue(body["error"]?.stringValue?.contains("nested deeper than 512 levels") == true, "\(body)")
        let limit = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        XCTAssertEqual(try assertStatus(api.append(session, "in", limit), 200, "512 levels is within the limit")["seq"], 1)
        let unclosed = String(repeating: "[", count: 600)
        XCTAssertEqual(try assertStatus(api.append(session, "in", unclosed), 200, "not JSON: stored as text")["seq"], 2,
                       "the refused record took no sequence number")
        // The drain envelope adds three levels, more than this test's JSON parser takes: read it raw.
        let first = String(decoding: try api.drain(session, "in", query: [("limit", "1")]).body, as: UTF8.self)
        XCTAssertTrue(first.hasPrefix("{\"records\":[{\"data\":" + limit + ","), "stored as JSON: \(first.prefix(80))")
        let rest = try XCTUnwrap(try api.drain(session, "in", query: [("afterEventId", "1")]).json()["records"]?.arrayValue)
        XCTAssertEqual(rest.first?["data"]?.stringValue, unclosed)
    }

    func testControlRecordsCarryTurnCompleteHeaders() throws {
        let session = try api.newSession(externalId: unique("ctl"))
        _ = try api.append(session, "in", "question")
        _ = try api.append(session, "out", "answer")
        let response = try api.control(session, .object(["subtype": "turn-complete", "headers": .object(["x-custom": "1"])]))
        XCTAssertEqual(response.status, 200, response.description)
        XCTAssertEqual(try response.json()["seq"]?.intValue, 2)
        let stream = try apiB.subscribe(session, "out", headers: [("Last-Event-ID", "1"), ("Timeout-Seconds", "1")])
        let event = try XCTUnwrap(try stream.nextDataEvent())
        XCTAssertEqual(event.event, "control")
        let json = try event.json()
        XCTAssertTrue(json["data"]?.isNull ?? false)
        let headers = Dictionary(uniqueKeysWithValues: (json["headers"]?.arrayValue ?? []).compactMap { pair -> (String, String)? in
            guard let name = pair[0]?.stringValue, let value = pair[1]?.stringValue else { return nil }
            return (name, value)
        })
        XCTAssertEqual(headers["trigger-control"], "turn-complete")
        XCTAssertEqual(headers["session-in-event-id"], "1")
        XCTAssertEqual(headers["last-event-id"], "2")
        XCTAssertEqual(headers["x-custom"], "1")
        let token = try XCTUnwrap(headers["public-access-token"])
        XCTAssertEqual(try api(bearer: token).retrieveSession(session).status, 200, "the minted token reads the session")
        // Other subtypes, and public tokens are refused.
        XCTAssertEqual(try api.control(session, .object(["subtype": "upgrade-required"])).status, 200)
        XCTAssertEqual(try api(bearer: token).control(session, .object(["subtype": "turn-complete"])).status, 403)
        XCTAssertEqual(try api.control(session, .object(["headers": .object([:])])).status, 400)
    }

    // MARK: Drain

    func testDrainPagesWithAfterEventIdLimitAndHasMore() throws {
        let session = try api.newSession()
        for i in 1...5 { _ = try api.append(session, "in", "r\(i)") }
        let page = try api.drain(session, "in", query: [("afterEventId", "1"), ("limit", "3")]).json()
        XCTAssertEqual(page["records"]?.arrayValue?.compactMap { $0["seqNum"]?.intValue }, [2, 3, 4])
        XCTAssertEqual(page["records"]?[0]?["id"]?.intValue, 2)
        XCTAssertEqual(page["hasMore"]?.boolValue, true)
        let rest = try apiB.drain(session, "in", query: [("afterEventId", "4")]).json()
        XCTAssertEqual(rest["records"]?.arrayValue?.count, 1)
        XCTAssertEqual(rest["hasMore"]?.boolValue, false)
        for bad in [("limit", "0"), ("limit", "1001"), ("afterEventId", "-1"), ("afterEventId", "x")] {
            XCTAssertEqual(try api.drain(session, "in", query: [bad]).status, 400, "\(bad)")
        }
    }

    // MARK: Closed sessions

    func testClosedSessionRefusesAppendsAndEndsStreamsAfterDeliveringTheRest() throws {
        let session = try api.newSession()
        _ = try api.append(session, "out", "one")
        let open = try apiB.subscribe(session, "out", headers: [("Timeout-Seconds", "30")])
        XCTAssertEqual(try open.nextDataEvent()?.id, "1")
        _ = try api.append(session, "out", "two")
        XCTAssertEqual(try api.closeSession(session).status, 200)
        XCTAssertEqual(try open.nextDataEvent(timeout: 5)?.id, "2")
        XCTAssertNil(try open.nextDataEvent(timeout: 5), "the stream must end after the last record once closed")

        let refused = try api.append(session, "out", "three")
        XCTAssertEqual(refused.status, 400)
        XCTAssertEqual(try refused.json()["ok"]?.boolValue, false)
        XCTAssertEqual(refused.errorMessage, "Cannot append to a closed session")

        let started = Date()
        let late = try api.subscribe(session, "out", headers: [("Timeout-Seconds", "30")])
        XCTAssertEqual(late.status, 200)
        XCTAssertEqual(try late.nextDataEvent()?.id, "1")
        XCTAssertEqual(try late.nextDataEvent()?.id, "2")
        XCTAssertNil(try late.nextDataEvent(timeout: 5))
        XCTAssertLessThan(Date().timeIntervalSince(started), 3, "a new stream on a closed session ends at once")
    }

    func testExpiredSessionRefusesAppends() throws {
        let past = RFC3339.format(Date().addingTimeInterval(-5))
        let session = try api.newSession(extra: ["expiresAt": .string(past)])
        let refused = try api.append(session, "in", "late")
        XCTAssertEqual(refused.status, 400)
        XCTAssertEqual(refused.errorMessage, "Cannot append to an expired session")
    }

    // MARK: Trimmed history

    func testGapEventWhenResumePointWasTrimmed() throws {
        let session = try api.newSession()
        for i in 1...300 { XCTAssertEqual(try api.append(session, "out", "r\(i)").status, 200) }
        let stream = try apiB.subscribe(session, "out", headers: [("Last-Event-ID", "1"), ("Timeout-Seconds", "1")])
        let first = try XCTUnwrap(stream.headers["X-Relay-First-Id"].flatMap { Int($0) })
        XCTAssertGreaterThan(first, 2, "records were trimmed to about 10")
        let gap = try XCTUnwrap(try stream.nextDataEvent())
        XCTAssertEqual(gap.event, "gap")
        XCTAssertEqual(try gap.json()["requested"]?.intValue, 1)
        XCTAssertEqual(try gap.json()["firstAvailable"]?.intValue, first)
        XCTAssertEqual(try stream.nextDataEvent()?.id, String(first))
    }

    // MARK: Authorization

    func testChannelAuthorization() throws {
        let external = unique("chan")
        let session = try api.newSession(externalId: external)
        let token = try XCTUnwrap(try api.createSession(.object(["type": "chat.agent", "taskIdentifier": "echo",
                                                                    "externalId": .string(external)])).json()["publicAccessToken"]?.stringValue)
        let user = api(bearer: token)
        XCTAssertEqual(try user.append(external, "in", "from the browser").status, 200)
        XCTAssertEqual(try user.append(session, "in", "friendly id spelling").status, 200)
        XCTAssertEqual(try user.append(session, "out", "not mine").status, 403)
        XCTAssertEqual(try api.append("session_doesnotexist0000000000", "in", "x").status, 404)
        // Browsers: ?token= on GET endpoints.
        let viaQuery = try api(bearer: nil).subscribe(session, "in", query: [("token", token), ("timeoutSeconds", "1")])
        XCTAssertEqual(viaQuery.status, 200)
        XCTAssertEqual(try viaQuery.nextDataEvent()?.id, "1")
        XCTAssertEqual(try api(bearer: nil).drain(external, "in", query: [("token", token)]).status, 200)
        XCTAssertEqual(try api(bearer: nil).drain(external, "in").status, 401)
        let other = try devToken(["read:sessions:someone-else"])
        XCTAssertEqual(try api(bearer: other).drain(external, "in").status, 403)
        XCTAssertEqual(try api.subscribe(session, "in", headers: [("Timeout-Seconds", "0")]).status, 400)
        XCTAssertEqual(try api.subscribe(session, "in", headers: [("Timeout-Seconds", "601")]).status, 400)
        XCTAssertEqual(try api.subscribe(session, "in", headers: [("Last-Event-ID", "abc")]).status, 400)
    }
}

/// Append send times, written by the appender thread and read by the test thread.
final class ResultTimes: @unchecked Sendable {
    private var times: [Date?]
    private let lock = NSLock()
    init(count: Int) { times = Array(repeating: nil, count: count + 1) }
    func set(_ i: Int, _ date: Date) { lock.lock(); times[i] = date; lock.unlock() }
    func get(_ i: Int) -> Date? { lock.lock(); defer { lock.unlock() }; return times[i] }
}
