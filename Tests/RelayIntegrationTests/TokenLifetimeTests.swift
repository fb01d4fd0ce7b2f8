// TokenLifetimeTests.swift: a public token is valid from its nbf (if any) to its exp, and an
// SSE stream opened with it ends cleanly at its exp; streams opened with a secret key do not.

import XCTest
import Foundation

final class TokenLifetimeTests: RelayTestCase {
    func testStreamEndsCleanlyWhenItsTokenExpires() throws {
        let session = try api.newSession()
        let exp = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + 2.5).rounded(.down))
        let token = try devToken(["read:sessions:\(session)"], exp: exp)
        let stream = try api(bearer: token).subscribe(session, "out", headers: [("Timeout-Seconds", "60")])
        XCTAssertEqual(stream.status, 200)
        let keyed = try api.subscribe(session, "out", headers: [("Timeout-Seconds", "60")])
        XCTAssertEqual(keyed.status, 200)

        try assertStatus(api.append(session, "out", "before exp"), 200)
        XCTAssertEqual(try stream.nextDataEvent(timeout: 5)?.id, "1", "live until exp")
        XCTAssertEqual(try keyed.nextDataEvent(timeout: 5)?.id, "1")

        // Ends (nil) at about exp, long before the 60 s idle timeout.
        var comments: [String] = []
        while let event = try stream.nextEvent(timeout: 10) {
            XCTAssertTrue(event.isCommentOnly, "no records after exp: \(event)")
            comments += event.comments
        }
        let endedAt = Date()
        XCTAssertGreaterThan(endedAt.timeIntervalSince(exp), -0.5, "ended before exp")
        XCTAssertLessThan(endedAt.timeIntervalSince(exp), 3, "ended long after exp")
        XCTAssertTrue(comments.contains { $0.contains("token expired") }, "says why: \(comments)")

        // The secret-key stream is not affected.
        try assertStatus(api.append(session, "out", "after exp"), 200)
        XCTAssertEqual(try keyed.nextDataEvent(timeout: 5)?.id, "2")
        // Reconnecting with the expired token is refused; a fresh one works.
        XCTAssertEqual(try api(bearer: token).subscribe(session, "out").status, 401)
        let fresh = try api(bearer: try devToken(["read:sessions:\(session)"]))
            .subscribe(session, "out", headers: [("Last-Event-ID", "1"), ("Timeout-Seconds", "1")])
        XCTAssertEqual(try fresh.nextDataEvent(timeout: 5)?.id, "2")
    }

    func testTokenBeforeItsNotBeforeTimeIs401() throws {
        let session = try api.newSession()
        let early = try TestToken.mint(envId: TestEnvironments.devId, scopes: ["read:sessions:\(session)"],
                                       secret: TestEnvironments.devKey, nbf: Date().addingTimeInterval(60))
        assertError(try api(bearer: early).retrieveSession(session), 401, mentioning: ["not yet valid"], "retrieve")
        let viaQuery = try api(bearer: nil).subscribe(session, "out", query: [("token", early)])
        XCTAssertEqual(viaQuery.status, 401, "subscribe with ?token=")
        let valid = try TestToken.mint(envId: TestEnvironments.devId, scopes: ["read:sessions:\(session)"],
                                       secret: TestEnvironments.devKey, nbf: Date().addingTimeInterval(-5))
        XCTAssertEqual(try api(bearer: valid).retrieveSession(session).status, 200, "nbf in the past")
    }
}
