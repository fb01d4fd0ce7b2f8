// OutboxTests.swift: the two-step writes of the key layout (docs/cluster.md, Two steps).
// A change in a session's slot that its environment must learn (index state, run dispatch) is
// put in the slot's outbox in the same atomic step; a relay that dies before forwarding it
// leaves it there, and any node's outbox sweep forwards it, once. externalIds are claimed in
// the environment's slot and cached per node; a cache entry outlived by its session is noticed.

import XCTest
import Foundation

final class OutboxTests: RelayTestCase {
    override class var relayEnvironment: [String: String] {
        ["RELAY_RETENTION_SECONDS": "1", "RELAY_SWEEP_INTERVAL_SECONDS": "0.1"]
    }

    private var envBase: String { "relay:{env:\(TestEnvironments.devId)}:" }

    /// A run request in a session's outbox, as a relay that died right after the session's
    /// step would have left it: the sweep dispatches it (it is old enough), exactly once.
    func testARunLeftInAnOutboxIsDispatchedOnceByTheSweep() throws {
        let created = try createSession(externalId: unique("outbox"))
        let session = try XCTUnwrap(created["id"]?.stringValue)
        let runId = "run_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let entry = """
            {"env":"\(TestEnvironments.devId)","ix":false,"at":1,"run":{"id":"\(runId)","sid":"\(session)","at":1,\
            "fields":["runId","\(runId)","sessionId","\(session)","externalId","","taskIdentifier","my-chat",\
            "payload","{}","triggerConfig","{}","continuation","false","previousRunId",""]}}
            """
        let outbox = TestKeySlots.outboxKey(session: session)
        let client = try redis.client()
        defer { client.close() }
        let old = String(Int(Date().timeIntervalSince1970 * 1000) - 60_000)
        try client.checked("ZADD", outbox, old, entry)

        let stream = envBase + "runs"
        let dispatched = { try client.xrange(stream).filter { $0.fields["runId"] == runId } }
        try waitUntil(timeout: 30, interval: 0.1, "the sweep to dispatch \(runId)") { try dispatched().count == 1 }
        try waitUntil(timeout: 10, interval: 0.1, "the entry to leave the outbox") {
            try client.checked("ZSCORE", outbox, entry).string == nil
        }
        XCTAssertEqual(try client.checked("HGET", envBase + "run:\(runId)", "sessionId").string, session,
                       "the run record is written with the dispatch, so the run can be completed")

        // Left behind twice (a sweep that raced the writer): still dispatched once.
        try client.checked("ZADD", outbox, old, entry)
        try waitUntil(timeout: 30, interval: 0.1, "the sweep to take the entry again") {
            try client.checked("ZSCORE", outbox, entry).string == nil
        }
        XCTAssertEqual(try dispatched().count, 1, "applying an entry twice dispatches its run once")
    }

    /// A relay died after claiming an externalId in the environment's slot and before writing
    /// the session: the next create of that externalId writes the claimed session, once.
    func testACreateWhoseFirstStepWasLeftAloneIsFinishedByTheNextCreate() throws {
        let external = unique("claimed")
        let claimed = "session_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(25)
        let client = try redis.client()
        defer { client.close() }
        try client.checked("HSET", envBase + "ext", external, String(claimed))
        let placeholder = #"{"v":0,"claimed":\#(Int(Date().timeIntervalSince1970 * 1000)),"dead":""}"#
        try client.checked("HSET", envBase + "ix", String(claimed), placeholder)

        let first = try api.createSession(sessionBody(externalId: external))
        XCTAssertEqual(first.status, 201, "\(first)")
        XCTAssertEqual(try first.json()["id"]?.stringValue, String(claimed))
        let again = try api.createSession(sessionBody(externalId: external))
        XCTAssertEqual(again.status, 200, "the second create answers the same session: \(again)")
        XCTAssertEqual(try again.json()["id"]?.stringValue, String(claimed))
        let listed = try assertStatus(api.listSessions([("filter[externalId]", external)]), 200, "list")
        XCTAssertEqual(listed["data"]?.arrayValue?.compactMap { $0["id"]?.stringValue }, [String(claimed)])
    }

    /// Node B cached externalId E -> session A. A is closed and its data expires; E is created
    /// again on node C as session B2. Node B must answer for the new session, not 404 and not A.
    func testACachedExternalIdFollowsItsNewSessionAfterTheOldOneExpired() throws {
        let other = try RelayProcess(redisURL: redis.url, environment: Self.relayEnvironment)
        try other.start()
        defer { other.destroy() }
        let otherAPI = RelayAPI(port: other.port, bearer: TestEnvironments.devKey)

        let external = unique("reused")
        let first = try XCTUnwrap(try createSession(externalId: external)["id"]?.stringValue)
        XCTAssertEqual(try retrieveSession(external, with: otherAPI)["id"]?.stringValue, first, "the other node caches it")
        try assertStatus(api.closeSession(first), 200, "close")
        let client = try redis.client()
        defer { client.close() }
        try waitUntil(timeout: 10, interval: 0.1, "the closed session's data to expire") {
            try client.command("EXISTS", "relay:{s:\(first)}:meta").integer == 0
        }
        let second = try XCTUnwrap(try waitForValue(timeout: 10, "the externalId to be free again") { () -> String? in
            let response = try self.api.createSession(self.sessionBody(externalId: external))
            return response.status == 201 ? try response.json()["id"]?.stringValue : nil
        })
        XCTAssertNotEqual(second, first)
        XCTAssertEqual(try retrieveSession(external, with: otherAPI)["id"]?.stringValue, second,
                       "a cached mapping to an expired session is dropped and looked up again")
        try assertStatus(otherAPI.append(external, "out", #"{"n":1}"#), 200, "append through the externalId")
        XCTAssertEqual(try client.xrange("relay:{s:\(second)}:out").count, 1, "the record went to the new session")
    }
}

extension OutboxTests {
    /// The environment's index state says the session lives, but its row is gone (its own shard
    /// expired it a little earlier by its own clock): a create of its externalId makes a new
    /// session, never a row under the old id.
    func testAnExternalIdWhoseRowIsGoneNamesANewSession() throws {
        let external = unique("gone")
        let first = try XCTUnwrap(try createSession(externalId: external)["id"]?.stringValue)
        let client = try redis.client()
        defer { client.close() }
        try client.checked("DEL", "relay:{s:\(first)}:meta")
        let again = try api.createSession(sessionBody(externalId: external))
        XCTAssertEqual(again.status, 201, "\(again)")
        let second = try XCTUnwrap(try again.json()["id"]?.stringValue)
        XCTAssertNotEqual(second, first, "the old id is not brought back")
        XCTAssertEqual(try client.command("EXISTS", "relay:{s:\(first)}:meta").integer, 0)
        XCTAssertEqual(try retrieveSession(external)["id"]?.stringValue, second)
    }

    /// A session written by a release before index states has an externalId mapping and no
    /// state: the sweeper must keep its mapping (it cannot tell it is dead), so the session
    /// stays reachable by its externalId and the externalId is not handed out again.
    func testTheSweeperKeepsAnExternalIdWhoseStateItDoesNotKnow() throws {
        let external = unique("legacy")
        let id = try XCTUnwrap(try createSession(externalId: external)["id"]?.stringValue)
        let client = try redis.client()
        defer { client.close() }
        try client.checked("HDEL", envBase + "ix", id)
        let passes = { () throws -> Double in
            let text = try self.relay.http.request("GET", "/metrics").text
            let line = text.split(separator: "\n").first { $0.hasPrefix("relay_index_sweep_passes_total") }
            return line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
        }
        let before = try passes()
        try waitUntil(timeout: 20, interval: 0.1, "two more sweep passes") { try passes() >= before + 2 }
        XCTAssertEqual(try client.checked("HGET", envBase + "ext", external).string, id)
        let again = try api.createSession(sessionBody(externalId: external))
        XCTAssertEqual(again.status, 200, "the externalId still names its session: \(again)")
        XCTAssertEqual(try again.json()["id"]?.stringValue, id)
    }

    /// A "session_" name that is not a relay id names no session: 404, never a key name (a
    /// brace would put the session's keys in different cluster slots: CROSSSLOT, a 500).
    func testAMalformedSessionIdIsNotFound() throws {
        for name in ["session_%7Ba%7D", "session_x%7D", "session_short"] {
            let appended = try api.append(name, "out", #"{"n":1}"#)
            XCTAssertEqual(appended.status, 404, "\(name): \(appended)")
            XCTAssertEqual(try api.retrieveSession(name).status, 404, name)
        }
    }
}

/// The outbox key of a session's slot, as the relay names it: `relay:{<tag>}:outbox`, the tag
/// being the first "o"+base-36 number whose slot (ClusterKeySlot) is the session's.
enum TestKeySlots {
    static func outboxKey(session: String) -> String {
        let target = ClusterKeySlot.ofSession(session)
        var n = 0
        while true {
            let tag = "o" + String(n, radix: 36)
            if ClusterKeySlot.of("{\(tag)}") == target { return "relay:{\(tag)}:outbox" }
            n += 1
        }
    }
}
