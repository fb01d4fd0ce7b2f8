// SessionRecordTests.swift — Redis hash <-> SessionRecord, status and row JSON.

import XCTest
@testable import RelayCore

final class SessionRecordTests: XCTestCase {
    let base: [String: String] = [
        "id": "session_abc", "env": "env_dev", "type": "chat.agent", "task": "my-chat",
        "tags": #"["a","b"]"#, "createdAt": "1795456432123", "updatedAt": "1795456432124",
    ]

    func testMinimalRecordAndRow() throws {
        let r = try SessionRecord(fields: base)
        XCTAssertEqual(r.id, "session_abc")
        XCTAssertEqual(r.environmentId, "env_dev")
        XCTAssertEqual(r.tags, ["a", "b"])
        XCTAssertNil(r.externalId)
        XCTAssertEqual(r.rowJSON(nowMs: 0),
                       #"{"id":"session_abc","type":"chat.agent","taskIdentifier":"my-chat","tags":["a","b"],"createdAt":"2026-11-23T17:53:52.123Z","updatedAt":"2026-11-23T17:53:52.124Z","externalId":null,"currentRunId":null,"metadata":null,"closedAt":null,"closedReason":null,"expiresAt":null,"status":"ACTIVE"}"#)
    }

    /// Appends leave updatedAt alone and move ts:in / ts:out: the row shows the latest of the three.
    func testUpdatedAtIsTheLatestOfTheRowAndItsChannelsRecordTimes() throws {
        var f = base
        f["ts:out"] = "1795456439000"
        XCTAssertEqual(try SessionRecord(fields: f).updatedAt, 1_795_456_439_000)
        f["ts:in"] = "1795456440000"
        XCTAssertEqual(try SessionRecord(fields: f).updatedAt, 1_795_456_440_000)
        f["updatedAt"] = "1795456441000"
        XCTAssertEqual(try SessionRecord(fields: f).updatedAt, 1_795_456_441_000, "a later update of the row itself")
        f["ts:in"] = "soon"
        XCTAssertEqual(try SessionRecord(fields: f).updatedAt, 1_795_456_441_000, "a corrupt record time is passed over")
    }

    func testFullRecordRowWithExtras() throws {
        var f = base
        f["externalId"] = "chat_1"
        f["triggerConfig"] = #"{"basePayload":{"x":1}}"#
        f["currentRunId"] = "run_1"
        f["lastRunId"] = "run_0"
        f["metadata"] = #"{"k":"v"}"#
        f["closedAt"] = "1795456433000"
        f["closedReason"] = "done \"now\""
        f["expiresAt"] = "1795456440000"
        f["tags"] = ""
        let r = try SessionRecord(fields: f)
        XCTAssertEqual(r.tags, [])
        let row = r.rowJSON(nowMs: 0, extra: [("runId", "\"run_1\""), ("isCached", "false")])
        XCTAssertEqual(row,
                       #"{"id":"session_abc","type":"chat.agent","taskIdentifier":"my-chat","tags":[],"createdAt":"2026-11-23T17:53:52.123Z","updatedAt":"2026-11-23T17:53:52.124Z","externalId":"chat_1","triggerConfig":{"basePayload":{"x":1}},"currentRunId":"run_1","metadata":{"k":"v"},"closedAt":"2026-11-23T17:53:53.000Z","closedReason":"done \"now\"","expiresAt":"2026-11-23T17:54:00.000Z","status":"CLOSED","runId":"run_1","isCached":false}"#)
        XCTAssertTrue(JSONParser.isValid(bytes(row)))
        XCTAssertEqual(r.names, SessionNames(friendlyId: "session_abc", externalId: "chat_1"))
    }

    /// A corrupt row is a 500 whose message says nothing; the field is named in the logged detail.
    private func assertCorrupt(_ fields: [String: String], naming field: String, line: UInt = #line) {
        XCTAssertThrowsError(try SessionRecord(fields: fields), line: line) { error in
            let e = error as? APIError
            XCTAssertEqual(e?.status, 500, line: line)
            XCTAssertEqual(e?.message, "Internal error", line: line)
            XCTAssertTrue(e?.detail?.contains(field) == true, "\(String(describing: e?.detail)) lacks \(field)", line: line)
        }
    }

    func testMissingOrCorruptFields() {
        for name in ["id", "env", "type", "task", "createdAt", "updatedAt"] {
            var f = base
            f[name] = nil
            assertCorrupt(f, naming: name)
            f[name] = ""
            assertCorrupt(f, naming: name)
        }
        var f = base
        f["closedAt"] = "soon"
        assertCorrupt(f, naming: "closedAt")
        f = base
        f["tags"] = "{"
        assertCorrupt(f, naming: "tags")
    }

    func testStatus() throws {
        var r = try SessionRecord(fields: base)
        XCTAssertEqual(r.status(nowMs: 10), .active)
        r.expiresAt = 100
        XCTAssertEqual(r.status(nowMs: 99), .active)
        XCTAssertEqual(r.status(nowMs: 100), .expired)
        r.closedAt = 50
        XCTAssertEqual(r.status(nowMs: 100), .closed)
        XCTAssertEqual(r.status(nowMs: 0), .closed)
    }
}
