// AuthorizationTests.swift — scope grammar and the operation table of docs/API.md, Scopes.

import XCTest
@testable import RelayCore

final class AuthorizationTests: XCTestCase {
    let env = RelayEnvironment(id: "env_dev", slug: "dev", secretKeys: ["k"])
    let withExternal = SessionNames(friendlyId: "session_abc", externalId: "chat:1")
    let plain = SessionNames(friendlyId: "session_xyz", externalId: nil)

    private func token(_ scopes: String...) -> Principal { .publicToken(env, scopes: scopes) }

    private func allowed(_ p: Principal, _ op: RelayCore.Operation) -> Bool { authorize(p, op) == nil }

    func testScopeGrammar() {
        XCTAssertEqual(Scope.parse("admin"), Scope(action: "admin", type: "all", id: nil, isAdmin: true))
        XCTAssertEqual(Scope.parse("read:sessions"), Scope(action: "read", type: "sessions"))
        XCTAssertEqual(Scope.parse("read:sessions:session_1"), Scope(action: "read", type: "sessions", id: "session_1"))
        XCTAssertEqual(Scope.parse("read:sessions:chat:1:2")?.id, "chat:1:2")
        XCTAssertEqual(Scope.parse("admin:sessions")?.isAdmin, false)
        for bad in ["", "read", "read:", ":sessions", "read::x", "read:sessions:", "::", "Admin"] {
            XCTAssertNil(Scope.parse(bad), bad)
        }
    }

    func testScopeMatching() {
        let s = Scope.parse("read:sessions:chat:1")!
        XCTAssertTrue(s.allows(action: "read", type: "sessions", ids: ["session_abc", "chat:1"]))
        XCTAssertFalse(s.allows(action: "read", type: "sessions", ids: ["chat"]))
        XCTAssertFalse(s.allows(action: "read", type: "sessions", ids: []))
        XCTAssertFalse(s.allows(action: "write", type: "sessions", ids: ["chat:1"]))
        XCTAssertTrue(Scope.parse("*:sessions")!.allows(action: "write", type: "sessions", ids: []))
        XCTAssertTrue(Scope.parse("read:all")!.allows(action: "read", type: "tasks", ids: ["t"]))
        XCTAssertFalse(Scope.parse("read:all")!.allows(action: "write", type: "tasks", ids: []))
        XCTAssertTrue(Scope.parse("admin")!.allows(action: "anything", type: "x", ids: []))
    }

    func testSecretKeyAllowsEverything() {
        let p = Principal.secretKey(env)
        for op: RelayCore.Operation in [.createSession(taskIdentifier: "t"), .retrieveSession(plain), .readChannel(plain),
                                        .listSessions, .appendIn(plain), .appendOut(plain), .control(plain),
                                        .updateSession(plain), .closeSession(plain), .completeRun] {
            XCTAssertNil(authorize(p, op), "\(op)")
        }
    }

    func testCreate() {
        let op = RelayCore.Operation.createSession(taskIdentifier: "my-chat")
        XCTAssertTrue(allowed(token("write:sessions"), op))
        XCTAssertTrue(allowed(token("write:tasks:my-chat"), op))
        XCTAssertTrue(allowed(token("write:tasks"), op))
        XCTAssertFalse(allowed(token("write:tasks:other"), op))
        XCTAssertFalse(allowed(token("write:sessions:session_abc"), op), "an id-scoped token cannot create")
        XCTAssertFalse(allowed(token("read:sessions"), op))
        XCTAssertEqual(authorize(token(), op)?.status, 403)
        XCTAssertTrue(authorize(token(), op)!.message.contains("write:sessions"))
    }

    func testRetrieveAndReadBothSpellings() {
        for make in [RelayCore.Operation.retrieveSession, RelayCore.Operation.readChannel] {
            XCTAssertTrue(allowed(token("read:sessions:chat:1"), make(withExternal)))
            XCTAssertTrue(allowed(token("read:sessions:session_abc"), make(withExternal)))
            XCTAssertTrue(allowed(token("read:sessions"), make(withExternal)))
            XCTAssertFalse(allowed(token("read:sessions:chat"), make(withExternal)))
            XCTAssertFalse(allowed(token("read:sessions:chat:1"), make(plain)))
            XCTAssertFalse(allowed(token("write:sessions:chat:1"), make(withExternal)))
            let e = authorize(token("write:sessions:chat:1"), make(withExternal))
            XCTAssertEqual(e?.status, 403)
            XCTAssertTrue(e!.message.contains("read:sessions:chat:1"), e!.message)
        }
    }

    func testList() {
        XCTAssertTrue(allowed(token("read:sessions"), .listSessions))
        XCTAssertTrue(allowed(token("read:all"), .listSessions))
        XCTAssertFalse(allowed(token("read:sessions:session_abc"), .listSessions))
        XCTAssertFalse(allowed(token("write:sessions"), .listSessions))
    }

    func testAppendIn() {
        XCTAssertTrue(allowed(token("write:sessions:chat:1"), .appendIn(withExternal)))
        XCTAssertTrue(allowed(token("write:sessions:session_abc"), .appendIn(withExternal)))
        XCTAssertTrue(allowed(token("write:sessions"), .appendIn(plain)))
        XCTAssertFalse(allowed(token("read:sessions:chat:1"), .appendIn(withExternal)))
        XCTAssertFalse(allowed(token("write:sessions:session_abc"), .appendIn(plain)))
    }

    func testOutControlAndCompleteNeverForPublicTokens() {
        for p in [token("admin"), token("*:all"), token("write:sessions"), token("write:sessions:session_abc")] {
            for op: RelayCore.Operation in [.appendOut(withExternal), .control(withExternal), .completeRun] {
                XCTAssertEqual(authorize(p, op)?.status, 403, "\(p) \(op)")
            }
        }
    }

    func testUpdateAndClose() {
        for make in [RelayCore.Operation.updateSession, RelayCore.Operation.closeSession] {
            XCTAssertTrue(allowed(token("admin"), make(withExternal)))
            XCTAssertTrue(allowed(token("admin:sessions"), make(withExternal)))
            XCTAssertTrue(allowed(token("admin:all"), make(withExternal)))
            XCTAssertTrue(allowed(token("admin:sessions:chat:1"), make(withExternal)))
            XCTAssertTrue(allowed(token("admin:sessions:session_abc"), make(withExternal)))
            XCTAssertTrue(allowed(token("*:all"), make(withExternal)))
            XCTAssertFalse(allowed(token("admin:sessions:other"), make(withExternal)))
            XCTAssertFalse(allowed(token("write:sessions:chat:1"), make(withExternal)))
            XCTAssertFalse(allowed(token("read:sessions", "write:sessions"), make(withExternal)))
            XCTAssertTrue(authorize(token(), make(withExternal))!.message.contains("admin:sessions"))
        }
    }

    func testStarAllCoversEverythingButOutAppends() {
        let p = token("*:all")
        for op: RelayCore.Operation in [.createSession(taskIdentifier: "t"), .retrieveSession(plain), .readChannel(plain),
                                        .listSessions, .appendIn(plain), .updateSession(plain), .closeSession(plain)] {
            XCTAssertNil(authorize(p, op), "\(op)")
        }
        XCTAssertNotNil(authorize(p, .appendOut(plain)))
    }

    func testUnparseableScopesAreIgnored() {
        XCTAssertFalse(allowed(token("read", "read:", "::"), .listSessions))
    }

    func testSessionNames() {
        XCTAssertEqual(withExternal.all, ["session_abc", "chat:1"])
        XCTAssertEqual(plain.all, ["session_xyz"])
        XCTAssertEqual(withExternal.tokenKey, "chat:1")
        XCTAssertEqual(plain.tokenKey, "session_xyz")
    }

    /// "é" and "e\u{301}" are equal Swift Strings but different session names (different
    /// Redis keys): a token for one must not reach the other.
    func testSessionNamesAreComparedAsBytes() throws {
        let scope = try XCTUnwrap(Scope.parse("read:sessions:\u{E9}"))
        XCTAssertTrue(scope.allows(action: "read", type: "sessions", ids: ["\u{E9}"]))
        XCTAssertFalse(scope.allows(action: "read", type: "sessions", ids: ["e\u{301}"]))
        let readable = ReadableSessions.named(["\u{E9}"])
        XCTAssertFalse(readable.covers(SessionNames(friendlyId: "session_x", externalId: "e\u{301}")))
        XCTAssertTrue(readable.covers(SessionNames(friendlyId: "session_x", externalId: "\u{E9}")))
    }
}
