// ErrorDisclosureTests.swift: a public token learns nothing from sessions it may not touch.
// On every session-scoped route it gets the same status and message whether the session
// exists or not, and the message names only what the request's path said.

import XCTest
import Foundation

final class ErrorDisclosureTests: RelayTestCase {
    /// Every route that names a session, as (name, method, path suffix, body).
    private let routes: [(String, String, (String) -> String, Data?)] = [
        ("retrieve", "GET", { RelayAPI.sessionPath($0) }, nil),
        ("update", "PATCH", { RelayAPI.sessionPath($0) }, Data(#"{"tags":["x"]}"#.utf8)),
        ("close", "POST", { RelayAPI.sessionPath($0) + "/close" }, nil),
        ("append .in", "POST", { RelayAPI.channelPath($0, "in") + "/append" }, Data("hello".utf8)),
        ("append .out", "POST", { RelayAPI.channelPath($0, "out") + "/append" }, Data("hello".utf8)),
        ("control", "POST", { RelayAPI.channelPath($0, "out") + "/control" }, Data(#"{"subtype":"x"}"#.utf8)),
        ("drain", "GET", { RelayAPI.channelPath($0, "in") + "/records" }, nil),
        ("subscribe", "GET", { RelayAPI.channelPath($0, "out") }, nil),
    ]

    private func answers(_ bearer: String, _ name: String) throws -> [(route: String, status: Int, body: String)] {
        let client = api(bearer: bearer).http
        return try routes.map { route, method, path, body in
            let headers = body.map { _ in [("Content-Type", "application/json")] } ?? []
            let response = try client.request(method, path(name), headers: headers, body: body)
            return (route, response.status, String(decoding: response.body, as: UTF8.self))
        }
    }

    func testAnotherSessionAnswersLikeAnUnknownOneOnEveryRoute() throws {
        let mine = try createSession(externalId: unique("mine"))
        let token = try XCTUnwrap(mine["publicAccessToken"]?.stringValue)
        let hiddenName = unique("hidden-name")
        let hidden = try XCTUnwrap(try createSession(externalId: hiddenName)["id"]?.stringValue)

        let pairs = [(hidden, "session_" + String(repeating: "0", count: 25)), (hiddenName, unique("no-such-name"))]
        for (existing, unknown) in pairs {
            let seen = try answers(token, existing)
            let unseen = try answers(token, unknown)
            for (a, b) in zip(seen, unseen) {
                XCTAssertEqual(a.status, 403, "\(a.route) \(existing): \(a.body)")
                XCTAssertEqual(a.status, b.status, "\(a.route): same status for an existing and an unknown session")
                XCTAssertEqual(a.body.replacingOccurrences(of: existing, with: "NAME"),
                               b.body.replacingOccurrences(of: unknown, with: "NAME"),
                               "\(a.route): same message, up to the name the path gave")
                let other = existing == hidden ? hiddenName : hidden
                XCTAssertFalse(a.body.contains(other), "\(a.route) via \(existing) reveals \(other): \(a.body)")
            }
        }
        let retrieve = try api(bearer: token).retrieveSession(hidden)
        XCTAssertEqual(retrieve.errorMessage, "Public access token is missing the required scope: read:sessions:\(hidden)")
    }

    func testAllowedCallersStillTellUnknownSessionsApart() throws {
        let name = unique("later")
        let token = try devToken(["read:sessions:\(name)", "write:sessions:\(name)", "admin:sessions:\(name)"])
        for answer in try answers(token, name) where !["append .out", "control"].contains(answer.route) {
            XCTAssertEqual(answer.status, 404, "\(answer.route): a token for this name may learn it is unknown: \(answer.body)")
        }
    }
}
