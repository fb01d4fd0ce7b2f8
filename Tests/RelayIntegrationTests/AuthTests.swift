// AuthTests.swift: credentials, scopes and environment isolation (docs/API.md, Scopes) on the
// sessions API.

import XCTest
import Foundation

final class AuthTests: RelayTestCase {

    // MARK: 401

    func testMissingOrMalformedCredentialsAre401() throws {
        let id = try XCTUnwrap(try createSession()["id"]?.stringValue)
        let headers: [(name: String, header: String?)] = [
            ("no Authorization header", nil),
            ("Basic scheme", "Basic x"),
            ("Basic scheme with the key", "Basic \(Data(TestEnvironments.devKey.utf8).base64EncodedString())"),
            ("Bearer without a credential", "Bearer"),
            ("Bearer with an empty credential", "Bearer "),
            ("the key without a scheme", TestEnvironments.devKey),
            ("a JWT that is not one", "Bearer not.a.jwt"),
            ("two segments", "Bearer abc.def"),
        ]
        for (name, header) in headers {
            let extra = header.map { [("Authorization", $0)] } ?? []
            let client = api(bearer: nil).http
            assertError(try client.request("GET", RelayAPI.sessionsPath, headers: extra), 401, "list, \(name)")
            assertError(try client.request("GET", RelayAPI.sessionPath(id), headers: extra), 401, "retrieve, \(name)")
            assertError(try client.request("POST", RelayAPI.sessionsPath, headers: extra, json: sessionBody()), 401,
                        "create, \(name)")
        }
    }

    func testUnknownSecretKeyIs401() throws {
        let stranger = api(bearer: "tr_dev_not_a_configured_key")
        assertError(try stranger.listSessions(), 401, "list")
        assertError(try stranger.createSession(sessionBody()), 401, "create")
    }

    func testExpiredTokenIs401() throws {
        let id = try XCTUnwrap(try createSession()["id"]?.stringValue)
        let expired = try TestToken.mint(envId: TestEnvironments.devId, scopes: ["admin"], secret: TestEnvironments.devKey,
                                         iat: Date().addingTimeInterval(-7_200), exp: Date().addingTimeInterval(-60))
        assertError(try api(bearer: expired).retrieveSession(id), 401, "expired admin token")
        assertError(try api(bearer: expired).listSessions(), 401, "expired admin token on list")
    }

    func testTokenWithABadSignatureIs401() throws {
        let id = try XCTUnwrap(try createSession()["id"]?.stringValue)
        let scopes = ["read:sessions:\(id)"]
        let tokens: [(String, String)] = [
            ("signed with an unknown secret",
             try TestToken.mint(envId: TestEnvironments.devId, scopes: scopes, secret: "not-the-key")),
            ("claims env_prod, signed with env_dev's key",
             try TestToken.mint(envId: TestEnvironments.prodId, scopes: scopes, secret: TestEnvironments.devKey)),
            ("names an unknown environment",
             try TestToken.mint(envId: "env_nope", scopes: scopes, secret: TestEnvironments.devKey)),
            ("payload altered after signing", try tamperedToken(scopes: ["admin"], signedScopes: scopes)),
        ]
        for (name, token) in tokens {
            assertError(try api(bearer: token).retrieveSession(id), 401, name)
        }
    }

    // MARK: 403

    func testTokenWithoutTheNeededScopeIs403() throws {
        let externalId = unique("chat")
        let created = try createSession(taskIdentifier: "scoped-task", externalId: externalId, tags: ["keep"])
        let id = try XCTUnwrap(created["id"]?.stringValue)
        let other = try XCTUnwrap(try createSession()["id"]?.stringValue)
        let sessionToken = try XCTUnwrap(created["publicAccessToken"]?.stringValue)

        let read = api(bearer: try devToken(["read:sessions:\(id)"]))
        let write = api(bearer: try devToken(["write:sessions:\(id)"]))
        assertError(try read.listSessions(), 403, "read:sessions:{id} on list")
        assertError(try read.updateSession(id, ["tags": ["x"]]), 403, "read:sessions:{id} on update")
        assertError(try read.closeSession(id), 403, "read:sessions:{id} on close")
        assertError(try read.retrieveSession(other), 403, "read:sessions:{id} on another session")
        assertError(try read.createSession(sessionBody()), 403, "read:sessions:{id} on create")
        assertError(try write.retrieveSession(id), 403, "write:sessions:{id} on retrieve")
        assertError(try write.updateSession(id, ["tags": ["x"]]), 403, "write:sessions:{id} on update")
        assertError(try write.closeSession(id), 403, "write:sessions:{id} on close")
        assertError(try api(bearer: sessionToken).updateSession(externalId, ["tags": ["x"]]), 403,
                    "the session's own token on update")
        assertError(try api(bearer: sessionToken).closeSession(externalId), 403, "the session's own token on close")
        assertError(try api(bearer: sessionToken).listSessions(), 403, "the session's own token on list")
        assertError(try api(bearer: try devToken(["admin:sessions:\(other)"])).updateSession(id, ["tags": ["x"]]), 403,
                    "admin:sessions for another session")
        assertError(try api(bearer: try devToken(["read:sessions"])).createSession(sessionBody()), 403,
                    "read:sessions on create")
        assertError(try api(bearer: try devToken(["write:tasks:another-task"])).createSession(
                        sessionBody(taskIdentifier: "scoped-task")), 403, "write:tasks for another task")
        assertError(try api(bearer: try devToken([])).retrieveSession(id), 403, "no scopes at all")

        let row = try retrieveSession(id)
        XCTAssertEqual(row["status"], "ACTIVE", "forbidden closes change nothing")
        XCTAssertEqual(row["tags"], ["keep"], "forbidden updates change nothing")
    }

    // MARK: Scopes that allow

    func testScopesThatGrantEachOperation() throws {
        let externalId = unique("chat")
        let created = try createSession(taskIdentifier: "granted-task", externalId: externalId)
        let id = try XCTUnwrap(created["id"]?.stringValue)
        let sessionToken = try XCTUnwrap(created["publicAccessToken"]?.stringValue)

        XCTAssertEqual(try api(bearer: sessionToken).retrieveSession(externalId).status, 200, "own token, externalId")
        XCTAssertEqual(try api(bearer: sessionToken).retrieveSession(id).status, 200, "own token, friendly id")
        for scope in ["read:sessions", "read:sessions:\(id)", "*:sessions:\(id)", "read:all", "*:all", "admin"] {
            XCTAssertEqual(try api(bearer: try devToken([scope])).retrieveSession(id).status, 200, "retrieve with \(scope)")
        }
        for scope in ["read:sessions", "*:sessions", "admin"] {
            XCTAssertEqual(try api(bearer: try devToken([scope])).listSessions().status, 200, "list with \(scope)")
        }
        for scope in ["write:sessions", "write:tasks:granted-task", "write:tasks", "admin"] {
            let response = try api(bearer: try devToken([scope])).createSession(sessionBody(taskIdentifier: "granted-task"))
            XCTAssertEqual(response.status, 201, "create with \(scope): \(response)")
        }
        for scope in ["admin", "admin:sessions", "admin:sessions:\(id)", "admin:sessions:\(externalId)"] {
            let response = try api(bearer: try devToken([scope])).updateSession(id, ["tags": .array([.string(scope)])])
            XCTAssertEqual(response.status, 200, "update with \(scope): \(response)")
        }
        let closer = api(bearer: try devToken(["read:sessions:\(id)", "admin:sessions:\(id)"]))
        XCTAssertEqual(try closer.closeSession(externalId).status, 200, "close with admin:sessions:{id} among scopes")
    }

    func testOneTokenAuthorizesBothSpellingsOfASession() throws {
        let externalId = unique("chat")
        let id = try XCTUnwrap(try createSession(externalId: externalId)["id"]?.stringValue)

        let byExternalId = api(bearer: try devToken(["read:sessions:\(externalId)"]))
        XCTAssertEqual(try byExternalId.retrieveSession(id).status, 200, "externalId scope, friendly id route")
        XCTAssertEqual(try byExternalId.retrieveSession(externalId).status, 200, "externalId scope, externalId route")
        let byId = api(bearer: try devToken(["read:sessions:\(id)"]))
        XCTAssertEqual(try byId.retrieveSession(externalId).status, 200, "friendly id scope, externalId route")
        XCTAssertEqual(try api(bearer: try devToken(["admin:sessions:\(id)"])).updateSession(externalId, ["tags": ["a"]]).status,
                       200, "admin on the friendly id, update through the externalId")
        XCTAssertEqual(try api(bearer: try devToken(["admin:sessions:\(externalId)"])).closeSession(id).status, 200,
                       "admin on the externalId, close through the friendly id")
    }

    func testScopeIdsMayContainColons() throws {
        let externalId = "chat:\(UUID().uuidString.lowercased()):thread:7"
        let id = try XCTUnwrap(try createSession(externalId: externalId)["id"]?.stringValue)
        let token = api(bearer: try devToken(["read:sessions:\(externalId)"]))
        XCTAssertEqual(try token.retrieveSession(externalId).status, 200)
        XCTAssertEqual(try token.retrieveSession(id).status, 200)
        let prefixOnly = api(bearer: try devToken(["read:sessions:chat"]))
        assertError(try prefixOnly.retrieveSession(externalId), 403, "a scope id must be equal, not a prefix")
    }

    // MARK: Keys and environments

    func testEveryConfiguredKeyOfAnEnvironmentWorks() throws {
        let created = try createSession(externalId: unique("prod"), with: prodAPI)
        let id = try XCTUnwrap(created["id"]?.stringValue)
        XCTAssertTrue(try TestToken.hasValidSignature(created["publicAccessToken"]?.stringValue ?? "",
                                                      secret: TestEnvironments.prodKey)
                      || TestToken.hasValidSignature(created["publicAccessToken"]?.stringValue ?? "",
                                                     secret: TestEnvironments.prodSecondKey),
                      "env_prod tokens are signed with one of its keys")
        XCTAssertEqual(try TestToken.claims(of: created["publicAccessToken"]?.stringValue ?? "")["sub"], "env_prod")
        XCTAssertEqual(try api(bearer: TestEnvironments.prodSecondKey).retrieveSession(id).status, 200, "second secret key")
        let secondKeyToken = try TestToken.mint(envId: TestEnvironments.prodId, scopes: ["read:sessions:\(id)"],
                                                secret: TestEnvironments.prodSecondKey)
        XCTAssertEqual(try api(bearer: secondKeyToken).retrieveSession(id).status, 200, "token signed with the second key")
    }

    func testSessionsOfOneEnvironmentAreInvisibleToAnother() throws {
        let externalId = unique("shared")
        let dev = try createSession(externalId: externalId)
        let devId = try XCTUnwrap(dev["id"]?.stringValue)

        assertError(try prodAPI.retrieveSession(devId), 404, "env_dev's session by friendly id with env_prod's key")
        assertError(try prodAPI.retrieveSession(externalId), 404, "env_dev's externalId with env_prod's key")
        assertError(try prodAPI.updateSession(devId, ["tags": ["x"]]), 404, "update across environments")
        assertError(try prodAPI.closeSession(devId), 404, "close across environments")
        let prodToken = try TestToken.mint(envId: TestEnvironments.prodId, scopes: ["admin"], secret: TestEnvironments.prodKey)
        assertError(try api(bearer: prodToken).retrieveSession(devId), 404, "an env_prod admin token")
        let listed = try assertStatus(prodAPI.listSessions([("filter[externalId]", externalId)]), 200, "list in env_prod")
        XCTAssertEqual(listed["data"], [], "env_prod lists none of env_dev's sessions")

        // The same externalId in env_prod names a second, new session.
        let prod = try assertStatus(prodAPI.createSession(sessionBody(externalId: externalId)), 201, "same externalId in env_prod")
        let prodId = try XCTUnwrap(prod["id"]?.stringValue)
        XCTAssertNotEqual(prodId, devId)
        XCTAssertEqual(prod["isCached"], false)
        XCTAssertEqual(try retrieveSession(externalId)["id"]?.stringValue, devId)
        XCTAssertEqual(try retrieveSession(externalId, with: prodAPI)["id"]?.stringValue, prodId)
        XCTAssertEqual(try retrieveSession(devId)["status"], "ACTIVE")

        // Each environment's run goes to its own stream.
        let prodRun = try waitForDispatchedRun(try XCTUnwrap(prod["runId"]?.stringValue), envId: TestEnvironments.prodId)
        XCTAssertEqual(prodRun.fields["sessionId"], prodId)
        XCTAssertEqual(try dispatchedRuns(forSession: prodId, envId: TestEnvironments.devId).count, 0)
        XCTAssertEqual(try dispatchedRuns(forSession: devId, envId: TestEnvironments.prodId).count, 0)
    }

    // MARK: Helpers

    /// A token signed over `signedScopes` whose payload was then swapped for one with `scopes`.
    private func tamperedToken(scopes: [String], signedScopes: [String]) throws -> String {
        let genuine = try devToken(signedScopes).split(separator: ".")
        let forged = try devToken(scopes).split(separator: ".")
        return [genuine[0], forged[1], genuine[2]].joined(separator: ".")
    }
}
