// SessionDisclosureTests.swift — what a public token learns about sessions it may not touch:
// one 403 naming only the path's spelling whether or not the session exists, and which
// sessions an existing externalId may be handed back to on create.

import XCTest
@testable import RelayCore

final class SessionDisclosureTests: XCTestCase {
    let env = RelayEnvironment(id: "env_dev", slug: "dev", secretKeys: ["k"])
    let hidden = SessionNames(friendlyId: "session_abc", externalId: "hidden-name")

    private func token(_ scopes: String...) -> Principal { .publicToken(env, scopes: scopes) }

    private let operations: [(String, (SessionNames) -> RelayCore.Operation)] = [
        ("retrieve", { .retrieveSession($0) }), ("read channel", { .readChannel($0) }),
        ("append .in", { .appendIn($0) }), ("append .out", { .appendOut($0) }), ("control", { .control($0) }),
        ("update", { .updateSession($0) }), ("close", { .closeSession($0) }),
    ]

    func testDeniedAnswerIsTheSameWhetherTheSessionExistsOrNot() {
        let stranger = token("read:sessions:mine", "write:sessions:mine", "admin:sessions:mine")
        for path in ["session_abc", "hidden-name"] {
            for (name, operation) in operations {
                let existing = authorize(stranger, operation, path: path, session: hidden)
                let unknown = authorize(stranger, operation, path: path, session: nil)
                XCTAssertNotNil(existing, "\(name) \(path)")
                XCTAssertEqual(existing, unknown, "\(name) via \(path): same status and message")
                XCTAssertEqual(existing?.status, 403)
                let other = path == "session_abc" ? "hidden-name" : "session_abc"
                XCTAssertFalse(existing?.message.contains(other) ?? true,
                               "\(name) via \(path) must not reveal \(other): \(existing?.message ?? "")")
            }
        }
        XCTAssertEqual(authorize(stranger, { .retrieveSession($0) }, path: "session_abc", session: hidden)?.message,
                       "Public access token is missing the required scope: read:sessions:session_abc")
    }

    func testAllowedThroughEitherSpelling() {
        for scope in ["read:sessions:hidden-name", "read:sessions:session_abc", "read:sessions", "admin"] {
            for path in ["session_abc", "hidden-name"] {
                XCTAssertNil(authorize(token(scope), { .retrieveSession($0) }, path: path, session: hidden), "\(scope) \(path)")
            }
        }
        XCTAssertNil(authorize(.secretKey(env), { .closeSession($0) }, path: "nope", session: nil))
        // Allowed on the path's spelling: an unknown session is the caller's 404 to see.
        XCTAssertNil(authorize(token("read:sessions:nope"), { .retrieveSession($0) }, path: "nope", session: nil))
    }

    func testPathSpelling() {
        XCTAssertEqual(SessionNames(path: "session_abc"), SessionNames(friendlyId: "session_abc", externalId: nil))
        XCTAssertEqual(SessionNames(path: "chat:1"), SessionNames(friendlyId: "", externalId: "chat:1"))
    }

    func testReadableSessions() {
        XCTAssertEqual(ReadableSessions(.secretKey(env)), .all)
        for scope in ["read:sessions", "*:sessions", "read:all", "*:all", "admin"] {
            XCTAssertEqual(ReadableSessions(token(scope)), .all, scope)
        }
        XCTAssertEqual(ReadableSessions(token("write:tasks:t", "write:sessions", "admin:sessions")), .named([]),
                       "create, write and admin scopes read nothing")
        XCTAssertEqual(ReadableSessions(token("read:sessions:a", "*:sessions:b", "write:sessions:c", "read:all:d", "read:tasks:e")),
                       .named(["a", "b", "d"]))
    }

    /// `covers` must agree with `authorize` on retrieve for every combination tried.
    func testReadableSessionsAgreesWithAuthorize() {
        let scopeSets: [[String]] = [
            [], ["read:sessions:hidden-name"], ["read:sessions:session_abc"], ["read:sessions:other"],
            ["write:sessions:hidden-name"], ["admin:sessions:hidden-name"], ["*:sessions:hidden-name"], ["read:all:session_abc"],
            ["read:sessions"], ["write:tasks:t"], ["read:sessions:hidden"], ["read", "read:", "::"], ["admin"],
        ]
        let sessions = [hidden, SessionNames(friendlyId: "session_abc", externalId: nil),
                        SessionNames(friendlyId: "session_other", externalId: "other")]
        for scopes in scopeSets {
            let p = Principal.publicToken(env, scopes: scopes)
            for names in sessions {
                XCTAssertEqual(ReadableSessions(p).covers(names), authorize(p, .retrieveSession(names)) == nil,
                               "\(scopes) on \(names)")
            }
        }
    }
}
