// EdgeCaseTests.swift: edge cases found in review, each one a bug once: many distinct
// Timeout-Seconds values, HEAD on a stream, a retried append after close, an expiresAt far in
// the past, credentials checked before bodies.

import XCTest
import Foundation

final class EdgeCaseTests: RelayTestCase {
    func testIdleTimeoutStillWorksAfterManyDistinctTimeoutValues() throws {
        let session = try api.newSession()
        // libevent allows 256 common timeouts per loop; use up more than the relay's 200.
        for seconds in 390...600 {
            let stream = try api.subscribe(session, "in", headers: [("Timeout-Seconds", String(seconds))])
            XCTAssertEqual(stream.status, 200)
            stream.close()
        }
        let started = Date()
        let last = try api.subscribe(session, "in", headers: [("Timeout-Seconds", "1")])
        XCTAssertNil(try last.nextDataEvent(timeout: 5), "the stream must still end when idle")
        XCTAssertLessThan(Date().timeIntervalSince(started), 2.5)
    }

    func testRetriedAppendAfterCloseStillAnswersAsTheFirstOne() throws {
        let session = try api.newSession()
        XCTAssertEqual(try api.append(session, "in", "last words", partId: "final").json()["seq"]?.intValue, 1)
        XCTAssertEqual(try api.closeSession(session).status, 200)
        let retried = try api.append(session, "in", "last words", partId: "final")
        XCTAssertEqual(retried.status, 200, retried.description)
        XCTAssertEqual(try retried.json()["duplicate"]?.boolValue, true)
        XCTAssertEqual(try api.append(session, "in", "new words", partId: "other").status, 400)
    }

    func testExpiresAtLongInThePastKeepsARealRow() throws {
        let external = unique("old")
        let body: JSON = .object(["type": "chat.agent", "taskIdentifier": "echo", "externalId": .string(external),
                                  "expiresAt": "2000-01-01T00:00:00Z"])
        let created = try api.createSession(body)
        XCTAssertEqual(created.status, 201, created.description)
        XCTAssertEqual(try created.json()["status"]?.stringValue, "EXPIRED")
        let retrieved = try api.retrieveSession(external)
        XCTAssertEqual(retrieved.status, 200, retrieved.description)
        XCTAssertEqual(try retrieved.json()["taskIdentifier"]?.stringValue, "echo")
        XCTAssertEqual(try api.createSession(body).status, 409)
    }

    func testCredentialsAreCheckedBeforeBodies() throws {
        let session = try api.newSession()
        let anonymous = api(bearer: nil)
        XCTAssertEqual(try anonymous.http.request("PATCH", RelayAPI.sessionPath(session), body: Data("{".utf8)).status, 401)
        XCTAssertEqual(try anonymous.http.request("POST", RelayAPI.sessionPath(session) + "/close", body: Data("{".utf8)).status, 401)
        let token = try devToken(["admin"])
        let control = try api(bearer: token).http.request("POST", RelayAPI.channelPath(session, "out") + "/control",
                                                          body: Data("{".utf8))
        XCTAssertEqual(control.status, 403, "a public token never writes control records, whatever the body")
    }
}

final class HTTP10StreamTests: RelayTestCase {
    /// An HTTP/1.0 client asking for keep-alive gets a close-delimited stream: no
    /// Content-Length: 0 in front of the events, and the connection ends with the stream.
    func testHTTP10KeepAliveStreamIsCloseDelimited() throws {
        let session = try api.newSession()
        XCTAssertEqual(try api.append(session, "out", "hello").status, 200)
        let request = "GET \(RelayAPI.channelPath(session, "out")) HTTP/1.0\r\nConnection: keep-alive\r\n"
            + "Authorization: Bearer \(TestEnvironments.devKey)\r\nTimeout-Seconds: 1\r\n\r\n"
        let response = try http.sendRaw(Array(request.utf8), timeout: 10)
        XCTAssertEqual(response.status, 200)
        XCTAssertNil(response.headers["Content-Length"], "\(response)")
        XCTAssertTrue(response.text.contains("data: {\"data\":\"hello\",\"id\":1}"), response.text)
    }
}

final class RetentionTests: RelayTestCase {
    override class var relayEnvironment: [String: String] { ["RELAY_RETENTION_SECONDS": "60"] }

    /// A closed session's row and channels expire after the retention period; open ones never.
    func testClosingSetsTheRetentionTTLOnTheSessionsKeys() throws {
        let session = try api.newSession()
        XCTAssertEqual(try api.append(session, "in", "a").status, 200)
        XCTAssertEqual(try api.append(session, "out", "b").status, 200)
        let client = try redis.client()
        let keys = ["relay:{s:\(session)}:meta", "relay:{s:\(session)}:in", "relay:{s:\(session)}:out"]
        for key in keys { XCTAssertEqual(try client.command("TTL", key).integer, -1, "\(key) has no TTL while open") }
        XCTAssertEqual(try api.closeSession(session).status, 200)
        for key in keys {
            let ttl = try XCTUnwrap(try client.command("TTL", key).integer)
            XCTAssertTrue((1...60).contains(ttl), "\(key) TTL \(ttl)")
        }
    }
}

final class ShortRetentionTests: RelayTestCase {
    // The index sweeper is off here: this is about the list's own cleanup (IndexSweeperTests
    // covers the sweeper).
    override class var relayEnvironment: [String: String] {
        ["RELAY_RETENTION_SECONDS": "1", "RELAY_SWEEP_INTERVAL_SECONDS": "0"]
    }

    /// When a session's data expires, listing drops its stale index entries.
    func testListingForgetsSessionsWhoseDataExpired() throws {
        let type = unique("gone")
        let body: JSON = .object(["type": .string(type), "taskIdentifier": "echo", "expiresAt": "2000-01-01T00:00:00Z"])
        let created = try api.createSession(body)
        XCTAssertEqual(created.status, 201)
        let id = try XCTUnwrap(try created.json()["id"]?.stringValue)
        let client = try redis.client()
        try waitUntil(timeout: 10, "the session row to expire") {
            try client.command("EXISTS", "relay:{s:\(id)}:meta").integer == 0
        }
        let all = "relay:{env:\(TestEnvironments.devId)}:idx:all"
        let byType = "relay:{env:\(TestEnvironments.devId)}:idx:type:\(type)"
        XCTAssertEqual(try client.command("ZCARD", byType).integer, 1, "the stale entry is still indexed")
        // Two more sessions make the type index the cheapest to walk for this filter.
        _ = try api.newSession()
        _ = try api.newSession()
        let page = try api.listSessions([("filter[type]", type)])
        XCTAssertEqual(page.status, 200)
        XCTAssertEqual(try page.json()["data"]?.arrayValue?.count, 0)
        XCTAssertEqual(try client.command("ZCARD", byType).integer, 0, "listing dropped it")
        let members = try client.command("ZRANGE", all, "0", "-1").array?.compactMap(\.string) ?? []
        XCTAssertFalse(members.contains { $0.hasSuffix(id) })
    }
}
