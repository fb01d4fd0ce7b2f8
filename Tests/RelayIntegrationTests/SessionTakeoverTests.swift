// SessionTakeoverTests.swift: an existing session is handed back on create (idempotent by
// externalId) only to a caller who may read it; anyone else gets one fixed 409 with no row,
// no token and no run. Plus the other ways one name could reach another session: friendly id
// vs externalId spellings, scopes, environments.

import XCTest
import Foundation

final class SessionTakeoverTests: RelayTestCase {
    private let takenMessage = "externalId is already in use"

    /// A victim session (created with the secret key) whose first run has completed, so a
    /// create that reaches it would have to trigger a new run.
    private func victim(externalId: String) throws -> (id: String, runs: Int) {
        let created = try createSession(taskIdentifier: "victim-task", externalId: externalId,
                                        metadata: ["secret": "victim data"])
        let id = try XCTUnwrap(created["id"]?.stringValue)
        let run = try XCTUnwrap(created["runId"]?.stringValue)
        _ = try waitForDispatchedRun(run)
        try assertStatus(api.completeRun(run), 200, "complete the victim's first run")
        return (id, try dispatchedRuns(forSession: id).count)
    }

    private func assertTaken(_ response: HTTPResponse, _ context: String, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(response.status, 409, "\(context): \(response)", file: file, line: line)
        XCTAssertEqual(try response.json(), .object(["error": .string(takenMessage)]),
                       "\(context): the body is the fixed error and nothing else", file: file, line: line)
    }

    func testCreateOnlyTokenCannotTakeOverAnOpenSession() throws {
        let externalId = unique("victim")
        let (id, runsBefore) = try victim(externalId: externalId)
        let attacker = api(bearer: try devToken(["write:tasks:attacker-task"]))

        let response = try attacker.createSession(sessionBody(taskIdentifier: "attacker-task", externalId: externalId))
        try assertTaken(response, "create-only token naming the victim's externalId")
        let text = String(decoding: response.body, as: UTF8.self)
        for leak in [id, "victim data", "publicAccessToken", "runId"] {
            XCTAssertFalse(text.contains(leak), "the answer must not contain \(leak): \(text)")
        }

        XCTAssertEqual(try dispatchedRuns(forSession: id).count, runsBefore, "no run was triggered")
        let row = try retrieveSession(id)
        XCTAssertEqual(row["currentRunId"], .null, "the victim's row is untouched")
        XCTAssertEqual(row["taskIdentifier"], "victim-task")
        XCTAssertEqual(row["metadata"], ["secret": "victim data"])

        // write:sessions (create anything) reads nothing either.
        try assertTaken(try api(bearer: try devToken(["write:sessions"])).createSession(sessionBody(externalId: externalId)),
                        "write:sessions without a read scope")
        try assertTaken(try api(bearer: try devToken(["write:sessions", "read:sessions:someone-else", "admin:sessions:\(externalId)"]))
                            .createSession(sessionBody(externalId: externalId)),
                        "read scope for another session, admin (not read) for this one")
        XCTAssertEqual(try dispatchedRuns(forSession: id).count, runsBefore, "still no run")
    }

    func testClosedAndOpenSessionsLookTheSameToACallerWhoMayNotRead() throws {
        let openId = unique("open")
        let closedId = unique("closed")
        _ = try victim(externalId: openId)
        try createSession(externalId: closedId)
        try assertStatus(api.closeSession(closedId), 200, "close")
        let attacker = api(bearer: try devToken(["write:tasks:my-chat"]))

        let open = try attacker.createSession(sessionBody(externalId: openId))
        let closed = try attacker.createSession(sessionBody(externalId: closedId))
        try assertTaken(open, "open session")
        try assertTaken(closed, "closed session")
        XCTAssertEqual(open.body, closed.body, "byte for byte the same answer")

        // A caller who may read it keeps the closed-session 409 that says why.
        let reader = try api.createSession(sessionBody(externalId: closedId))
        assertError(reader, 409, mentioning: ["closed"], "secret key on a closed session")
    }

    func testCallersWhoMayReadTheSessionStillGetItBack() throws {
        let externalId = unique("mine")
        let (id, runsBefore) = try victim(externalId: externalId)
        let readers: [(String, [String])] = [
            ("read scope on the externalId", ["write:tasks:my-chat", "read:sessions:\(externalId)"]),
            ("read scope on the friendly id", ["write:tasks:my-chat", "read:sessions:\(id)"]),
            ("read on every session", ["write:sessions", "read:sessions"]),
            ("*:sessions on the externalId", ["write:tasks:my-chat", "*:sessions:\(externalId)"]),
            ("admin", ["admin"]),
        ]
        for (name, scopes) in readers {
            let body = try assertStatus(api(bearer: try devToken(scopes)).createSession(sessionBody(externalId: externalId)), 200, name)
            XCTAssertEqual(body["id"]?.stringValue, id, name)
            XCTAssertEqual(body["isCached"], true, name)
            XCTAssertNotNil(body["publicAccessToken"]?.stringValue, name)
        }
        // The first of those triggered the one new run (the session had none); the rest reused it.
        XCTAssertEqual(try dispatchedRuns(forSession: id).count, runsBefore + 1)
        let cached = try assertStatus(api.createSession(sessionBody(externalId: externalId)), 200, "secret key")
        XCTAssertEqual(cached["metadata"], ["secret": "victim data"])
    }

    // MARK: Names that could reach another session

    func testExternalIdsCannotLookLikeFriendlyIds() throws {
        let other = try XCTUnwrap(try createSession()["id"]?.stringValue)
        assertError(try api.createSession(sessionBody(externalId: other)), 400, mentioning: ["externalId"],
                    "another session's friendly id as externalId")
        assertError(try api.createSession(sessionBody(externalId: "session_anything")), 400, mentioning: ["externalId"])
        let externalId = unique("plain")
        let id = try XCTUnwrap(try createSession(externalId: externalId)["id"]?.stringValue)
        assertError(try api.updateSession(id, ["externalId": .string(other)]), 422, "renaming to a friendly id")
        XCTAssertEqual(try retrieveSession(externalId)["id"]?.stringValue, id)
        XCTAssertEqual(try retrieveSession(other)["id"]?.stringValue, other, "the friendly id still names its own session")
    }

    func testAScopeNamingOneSessionNeverReachesAnother() throws {
        let aExternal = unique("a")
        let a = try XCTUnwrap(try createSession(externalId: aExternal)["id"]?.stringValue)
        let b = try XCTUnwrap(try createSession(externalId: unique("b"))["id"]?.stringValue)
        for scope in ["read:sessions:\(a)", "read:sessions:\(aExternal)"] {
            let token = api(bearer: try devToken([scope]))
            XCTAssertEqual(try token.retrieveSession(a).status, 200, scope)
            XCTAssertEqual(try token.retrieveSession(aExternal).status, 200, scope)
            assertError(try token.retrieveSession(b), 403, scope)
        }
    }

    func testEnvironmentsNeverShareSessionsThroughCreate() throws {
        let externalId = unique("env")
        let (devId, devRuns) = try victim(externalId: externalId)
        // env_prod's callers create their own session with that externalId: nothing of env_dev's shows.
        let prodToken = try TestToken.mint(envId: TestEnvironments.prodId, scopes: ["write:sessions", "read:sessions"],
                                           secret: TestEnvironments.prodKey)
        let prod = try assertStatus(api(bearer: prodToken).createSession(sessionBody(externalId: externalId)), 201,
                                    "env_prod token, env_dev's externalId")
        XCTAssertNotEqual(prod["id"]?.stringValue, devId)
        XCTAssertEqual(prod["isCached"], false)
        // A env_prod token scoped to env_dev's friendly id reads nothing there.
        let scoped = try TestToken.mint(envId: TestEnvironments.prodId, scopes: ["read:sessions:\(devId)", "write:sessions"],
                                        secret: TestEnvironments.prodKey)
        assertError(try api(bearer: scoped).retrieveSession(devId), 404, "env_dev's id through env_prod")
        XCTAssertEqual(try dispatchedRuns(forSession: devId).count, devRuns, "env_dev's session saw no run")
    }
}
