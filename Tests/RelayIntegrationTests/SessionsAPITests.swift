// SessionsAPITests.swift: create, retrieve, update and close (docs/API.md, Sessions) with a secret
// key, including every status code of those endpoints and the first run's dispatch.

import XCTest
import Foundation

final class SessionsAPITests: RelayTestCase {

    // MARK: Create

    func testCreateReturnsTheRowTheFirstRunAndASessionToken() throws {
        let externalId = unique("chat")
        let triggerConfig: JSON = [
            "basePayload": ["model": "m-1", "nested": ["a": 1]],
            "machine": "small-1x", "maxAttempts": 3, "idleTimeoutInSeconds": 1800,
        ]
        let before = Date()
        let created = try assertStatus(api.createSession(sessionBody(
            type: "chat.agent", taskIdentifier: "my-chat", externalId: externalId, tags: ["chat:1", "user:2"],
            metadata: ["plan": "pro"], triggerConfig: triggerConfig)), 201, "create")
        let after = Date()

        assertSessionRow(created)
        let id = try XCTUnwrap(created["id"]?.stringValue)
        XCTAssertEqual(created["type"], "chat.agent")
        XCTAssertEqual(created["taskIdentifier"], "my-chat")
        XCTAssertEqual(created["externalId"]?.stringValue, externalId)
        XCTAssertEqual(created["tags"], ["chat:1", "user:2"])
        XCTAssertEqual(created["metadata"], ["plan": "pro"])
        XCTAssertEqual(created["triggerConfig"], triggerConfig)
        XCTAssertEqual(created["status"], "ACTIVE")
        XCTAssertEqual(created["closedAt"], .null)
        XCTAssertEqual(created["closedReason"], .null)
        XCTAssertEqual(created["expiresAt"], .null)
        XCTAssertEqual(created["isCached"], false)
        for field in ["createdAt", "updatedAt"] {
            let date = try XCTUnwrap(RFC3339.parse(created[field]?.stringValue ?? ""), field)
            XCTAssertGreaterThanOrEqual(date, before.addingTimeInterval(-1), field)
            XCTAssertLessThanOrEqual(date, after.addingTimeInterval(1), field)
        }
        let runId = try XCTUnwrap(created["runId"]?.stringValue)
        XCTAssertTrue(runId.hasPrefix("run_"), runId)
        XCTAssertEqual(created["currentRunId"]?.stringValue, runId)

        // The token: env_dev, public, read+write on the externalId, one hour, signed with the key.
        let token = try XCTUnwrap(created["publicAccessToken"]?.stringValue)
        XCTAssertTrue(try TestToken.hasValidSignature(token, secret: TestEnvironments.devKey), "token signature")
        XCTAssertEqual(try TestToken.header(of: token)["alg"], "HS256")
        let claims = try TestToken.claims(of: token)
        XCTAssertEqual(claims["sub"], "env_dev")
        XCTAssertEqual(claims["pub"], true)
        XCTAssertEqual(Set(claims["scopes"]?.arrayValue?.compactMap(\.stringValue) ?? []),
                       ["read:sessions:\(externalId)", "write:sessions:\(externalId)"])
        let iat = try XCTUnwrap(claims["iat"]?.doubleValue)
        XCTAssertEqual(claims["exp"]?.doubleValue, iat + 3600, "default token lifetime is one hour")
        XCTAssertEqual(iat, Date().timeIntervalSince1970, accuracy: 60)

        // The first run request, with basePayload merged with sessionId and idleTimeoutInSeconds.
        let run = try waitForDispatchedRun(runId)
        XCTAssertEqual(run.fields["sessionId"], id)
        XCTAssertEqual(run.fields["externalId"], externalId)
        XCTAssertEqual(run.fields["taskIdentifier"], "my-chat")
        XCTAssertEqual(run.fields["continuation"], "false")
        XCTAssertEqual(run.fields["previousRunId"], "")
        XCTAssertEqual(try JSON(parsing: run.fields["payload"] ?? ""),
                       ["model": "m-1", "nested": ["a": 1], "sessionId": .string(id), "idleTimeoutInSeconds": 1800])
        XCTAssertEqual(try JSON(parsing: run.fields["triggerConfig"] ?? ""),
                       ["machine": "small-1x", "maxAttempts": 3, "idleTimeoutInSeconds": 1800])
        XCTAssertEqual(try dispatchedRuns(forSession: id).count, 1, "exactly one run for a new session")
    }

    func testCreateWithoutExternalIdKeysTheTokenAndRunOnTheFriendlyId() throws {
        let created = try createSession(type: "chat.agent", taskIdentifier: "bare-task")
        assertSessionRow(created)
        let id = try XCTUnwrap(created["id"]?.stringValue)
        XCTAssertEqual(created["externalId"], .null)
        XCTAssertEqual(created["tags"], [], "tags default to []")
        XCTAssertEqual(created["metadata"], .null)
        let claims = try TestToken.claims(of: created["publicAccessToken"]?.stringValue ?? "")
        XCTAssertEqual(Set(claims["scopes"]?.arrayValue?.compactMap(\.stringValue) ?? []),
                       ["read:sessions:\(id)", "write:sessions:\(id)"])

        let run = try waitForDispatchedRun(try XCTUnwrap(created["runId"]?.stringValue))
        XCTAssertEqual(run.fields["externalId"], "")
        XCTAssertEqual(run.fields["taskIdentifier"], "bare-task")
        XCTAssertEqual(try JSON(parsing: run.fields["payload"] ?? ""), ["sessionId": .string(id)])
        XCTAssertEqual(try JSON(parsing: run.fields["triggerConfig"] ?? ""), [:])
    }

    func testBasePayloadCannotOverrideTheSessionId() throws {
        let created = try createSession(triggerConfig: ["basePayload": ["sessionId": "spoofed", "x": 1], "queue": "q1"])
        let id = try XCTUnwrap(created["id"]?.stringValue)
        let run = try waitForDispatchedRun(try XCTUnwrap(created["runId"]?.stringValue))
        XCTAssertEqual(try JSON(parsing: run.fields["payload"] ?? ""), ["sessionId": .string(id), "x": 1],
                       "sessionId is merged after basePayload; no idleTimeoutInSeconds when not configured")
        XCTAssertEqual(try JSON(parsing: run.fields["triggerConfig"] ?? ""), ["queue": "q1"])
    }

    func testCreateAcceptsEveryFieldAtItsUpperBound() throws {
        let type = String(repeating: "t", count: 64)
        let task = String(repeating: "k", count: 128)
        let externalId = unique("ext") + String(repeating: "e", count: 256 - 40)
        XCTAssertEqual(externalId.count, 256)
        let tags = (0..<10).map { "\($0)" + String(repeating: "g", count: 127) }
        let created = try assertStatus(api.createSession(sessionBody(
            type: type, taskIdentifier: task, externalId: externalId, tags: tags,
            expiresAt: "2099-01-01T00:00:00Z")), 201, "fields at their bounds")
        XCTAssertEqual(created["type"]?.stringValue, type)
        XCTAssertEqual(created["taskIdentifier"]?.stringValue, task)
        XCTAssertEqual(created["externalId"]?.stringValue, externalId)
        XCTAssertEqual(created["tags"], .array(tags.map(JSON.string)))
        XCTAssertEqual(RFC3339.parse(created["expiresAt"]?.stringValue ?? ""), RFC3339.parse("2099-01-01T00:00:00Z"))
        XCTAssertEqual(created["status"], "ACTIVE")
    }

    func testCreateRejectsFieldsOutOfBoundsNamingTheField() throws {
        let cases: [(name: String, body: [String: JSON], mentioning: [String])] = [
            ("type missing", ["taskIdentifier": "t"], ["type"]),
            ("type empty", ["type": "", "taskIdentifier": "t"], ["type"]),
            ("type of 65 chars", ["type": .string(String(repeating: "t", count: 65)), "taskIdentifier": "t"], ["type"]),
            ("type not a string", ["type": 5, "taskIdentifier": "t"], ["type"]),
            ("taskIdentifier missing", ["type": "chat"], ["taskIdentifier"]),
            ("taskIdentifier empty", ["type": "chat", "taskIdentifier": ""], ["taskIdentifier"]),
            ("taskIdentifier of 129 chars",
             ["type": "chat", "taskIdentifier": .string(String(repeating: "k", count: 129))], ["taskIdentifier"]),
            ("externalId with the session_ prefix",
             ["type": "chat", "taskIdentifier": "t", "externalId": .string("session_" + String(repeating: "a", count: 25))],
             ["externalId"]),
            ("externalId empty", ["type": "chat", "taskIdentifier": "t", "externalId": ""], ["externalId"]),
            ("externalId of 257 chars",
             ["type": "chat", "taskIdentifier": "t", "externalId": .string(String(repeating: "x", count: 257))],
             ["externalId"]),
            ("externalId not a string", ["type": "chat", "taskIdentifier": "t", "externalId": 12], ["externalId"]),
            ("11 tags", ["type": "chat", "taskIdentifier": "t", "tags": .array((0..<11).map { .string("tag\($0)") })],
             ["tags"]),
            ("a tag of 129 chars",
             ["type": "chat", "taskIdentifier": "t", "tags": ["ok", .string(String(repeating: "g", count: 129))]], ["tags"]),
            ("an empty tag", ["type": "chat", "taskIdentifier": "t", "tags": ["ok", ""]], ["tags"]),
            ("tags not an array", ["type": "chat", "taskIdentifier": "t", "tags": "a,b"], ["tags"]),
            ("triggerConfig not an object", ["type": "chat", "taskIdentifier": "t", "triggerConfig": "fast"],
             ["triggerConfig"]),
            ("basePayload not an object",
             ["type": "chat", "taskIdentifier": "t", "triggerConfig": ["basePayload": [1, 2]]],
             ["basePayload", "triggerConfig"]),
            ("expiresAt not RFC 3339", ["type": "chat", "taskIdentifier": "t", "expiresAt": "tomorrow"], ["expiresAt"]),
        ]
        for testCase in cases {
            // Cases that do not test externalId carry a fresh one, to check nothing was created.
            var body = testCase.body
            let probe = body["externalId"] == nil ? unique("rejected") : nil
            if let probe { body["externalId"] = .string(probe) }
            assertError(try api.createSession(.object(body)), 400, mentioning: testCase.mentioning, testCase.name)
            if let probe {
                XCTAssertEqual(try api.retrieveSession(probe).status, 404, "\(testCase.name): a rejected create creates nothing")
            }
        }
    }

    func testCreateRejectsMalformedJSON() throws {
        for (name, body) in [("truncated", "{\"type\": \"chat\""), ("not JSON", "type=chat"), ("an array", "[]"),
                             ("a string", "\"chat\""), ("empty", "")] {
            let response = try api.http.request("POST", RelayAPI.sessionsPath,
                                                headers: [("Content-Type", "application/json")], body: Data(body.utf8))
            assertError(response, 400, name)
        }
    }

    func testCreateBodyIsLimitedTo32KiB() throws {
        // Exactly 32 KiB is accepted.
        let fits = try paddedCreateBody(externalId: unique("fits"), size: 32 * 1024)
        XCTAssertEqual(fits.count, 32_768)
        XCTAssertEqual(try createRaw(fits).status, 201, "a body of exactly 32 KiB is allowed")

        // One byte more, and 33 KiB, are not; nothing is created.
        for size in [32 * 1024 + 1, 33 * 1024] {
            let externalId = unique("too-big")
            let response = try createRaw(try paddedCreateBody(externalId: externalId, size: size))
            assertError(response, 413, "a \(size)-byte create body")
            XCTAssertEqual(try api.retrieveSession(externalId).status, 404, "a rejected create creates nothing")
        }
    }

    func testChunkedCreateBodyIsReadUpToTheLimit() throws {
        let small = try paddedCreateBody(externalId: unique("chunked-ok"), size: 10_000)
        let accepted = try api.http.requestChunked("POST", RelayAPI.sessionsPath,
                                                   headers: [("Content-Type", "application/json")],
                                                   chunks: split(small, into: 4_096))
        XCTAssertEqual(accepted.status, 201, "a chunked body under the limit: \(accepted)")

        let externalId = unique("chunked-too-big")
        let big = try paddedCreateBody(externalId: externalId, size: 40 * 1024)
        let rejected = try api.http.requestChunked("POST", RelayAPI.sessionsPath,
                                                   headers: [("Content-Type", "application/json")],
                                                   chunks: split(big, into: 4_096))
        assertError(rejected, 413, "a 40 KiB chunked create body")
        XCTAssertEqual(try api.retrieveSession(externalId).status, 404, "a rejected create creates nothing")
    }

    // MARK: Idempotent create

    func testCreateWithTheExternalIdOfAnOpenSessionReturnsItCached() throws {
        let externalId = unique("chat")
        let first = try createSession(type: "chat.agent", externalId: externalId, tags: ["first"])
        let runId = try XCTUnwrap(first["runId"]?.stringValue)
        _ = try waitForDispatchedRun(runId)

        let second = try assertStatus(api.createSession(sessionBody(type: "other.type", externalId: externalId,
                                                                    tags: ["second"])), 200, "cached create")
        XCTAssertEqual(second["isCached"], true)
        XCTAssertEqual(second["id"], first["id"])
        XCTAssertEqual(second["type"], "chat.agent", "the existing row comes back unchanged")
        XCTAssertEqual(second["tags"], ["first"])
        XCTAssertEqual(second["createdAt"], first["createdAt"])
        XCTAssertEqual(second["runId"]?.stringValue, runId, "runId is the live run")
        XCTAssertEqual(second["currentRunId"]?.stringValue, runId)
        let token = try XCTUnwrap(second["publicAccessToken"]?.stringValue)
        XCTAssertTrue(try TestToken.hasValidSignature(token, secret: TestEnvironments.devKey))
        XCTAssertEqual(Set(try TestToken.claims(of: token)["scopes"]?.arrayValue?.compactMap(\.stringValue) ?? []),
                       ["read:sessions:\(externalId)", "write:sessions:\(externalId)"])
        XCTAssertEqual(try dispatchedRuns(forSession: first["id"]?.stringValue ?? "").count, 1,
                       "a cached create with a live run triggers no run")
    }

    func testCreateWithTheExternalIdOfAClosedSessionIs409() throws {
        let externalId = unique("closed")
        try createSession(externalId: externalId)
        XCTAssertEqual(try api.closeSession(externalId).status, 200)
        assertError(try api.createSession(sessionBody(externalId: externalId)), 409)
    }

    func testCreateWithTheExternalIdOfAnExpiredSessionIs409() throws {
        let externalId = unique("expired")
        try createExpiredSession(sessionBody(externalId: externalId))
        assertError(try api.createSession(sessionBody(externalId: externalId)), 409)
    }

    func testConcurrentCreatesWithOneExternalIdMakeOneSession() throws {
        let externalId = unique("race")
        let body = sessionBody(externalId: externalId)
        let api = self.api
        let responses = try concurrentMap(20) { _ in try api.createSession(body) }

        let statuses = responses.map(\.status)
        XCTAssertEqual(statuses.filter { $0 == 201 }.count, 1, "exactly one create wins: \(statuses)")
        XCTAssertEqual(statuses.filter { $0 == 200 }.count, 19, "the others get the cached row: \(statuses)")
        let rows = try responses.map { try $0.json() }
        let ids = Set(rows.compactMap { $0["id"]?.stringValue })
        XCTAssertEqual(ids.count, 1, "one session: \(ids)")
        XCTAssertEqual(Set(rows.compactMap { $0["runId"]?.stringValue }).count, 1, "one run")
        for (response, row) in zip(responses, rows) {
            XCTAssertEqual(row["isCached"], .bool(response.status == 200))
        }
        XCTAssertEqual(try dispatchedRuns(forSession: ids.first ?? "").count, 1, "one run request")
    }

    // MARK: Retrieve

    func testRetrieveByFriendlyIdAndByExternalId() throws {
        let externalId = unique("chat")
        let created = try createSession(externalId: externalId, tags: ["a"], metadata: ["k": [1, 2]],
                                        triggerConfig: ["machine": "small-1x"])
        let id = try XCTUnwrap(created["id"]?.stringValue)
        let byId = try assertStatus(api.retrieveSession(id), 200, "by friendly id")
        let byExternalId = try assertStatus(api.retrieveSession(externalId), 200, "by externalId")
        assertSessionRow(byId)
        XCTAssertEqual(byId, byExternalId)
        for field in ["id", "type", "taskIdentifier", "tags", "createdAt", "updatedAt", "externalId", "triggerConfig",
                      "currentRunId", "metadata", "closedAt", "closedReason", "expiresAt", "status"] {
            XCTAssertEqual(byId[field], created[field], field)
        }
    }

    func testRetrieveUnknownSessionIs404() throws {
        assertError(try api.retrieveSession("session_" + String(repeating: "0", count: 25)), 404, "unknown friendly id")
        assertError(try api.retrieveSession(unique("never-created")), 404, "unknown externalId")
    }

    // MARK: Status

    func testSessionPastItsExpiresAtReadsExpired() throws {
        let created = try createExpiredSession(sessionBody(externalId: unique("expiring")))
        let row = try retrieveSession(try XCTUnwrap(created["id"]?.stringValue))
        XCTAssertEqual(row["status"], "EXPIRED")
        XCTAssertEqual(row["closedAt"], .null)
        let expiresAt = try XCTUnwrap(RFC3339.parse(row["expiresAt"]?.stringValue ?? ""), "expiresAt: \(row)")
        XCTAssertLessThanOrEqual(expiresAt, Date())
    }

    func testSessionWithAFutureExpiresAtIsActive() throws {
        let created = try createSession(expiresAt: "2030-01-01T00:00:00Z")
        XCTAssertEqual(created["status"], "ACTIVE")
        XCTAssertEqual(RFC3339.parse(created["expiresAt"]?.stringValue ?? ""), RFC3339.parse("2030-01-01T00:00:00.000Z"))
    }

    // MARK: Update

    func testUpdateReplacesTagsAndMetadataAndLeavesOmittedFields() throws {
        let externalId = unique("chat")
        let created = try createSession(externalId: externalId, tags: ["a"], metadata: ["x": 1])
        let id = try XCTUnwrap(created["id"]?.stringValue)

        let tagged = try assertStatus(api.updateSession(id, ["tags": ["b", "c"]]), 200, "update tags")
        assertSessionRow(tagged)
        XCTAssertEqual(tagged["tags"], ["b", "c"])
        XCTAssertEqual(tagged["metadata"], ["x": 1], "omitted metadata is left unchanged")
        XCTAssertEqual(tagged["externalId"]?.stringValue, externalId)

        let described = try assertStatus(api.updateSession(externalId, ["metadata": ["y": [1, 2], "z": "w"]]), 200,
                                         "update metadata through the externalId")
        XCTAssertEqual(described["metadata"], ["y": [1, 2], "z": "w"], "metadata is replaced, not merged")
        XCTAssertEqual(described["tags"], ["b", "c"], "omitted tags are left unchanged")

        let cleared = try assertStatus(api.updateSession(id, ["metadata": .null]), 200, "metadata null")
        XCTAssertEqual(cleared["metadata"], .null)

        let row = try retrieveSession(id)
        XCTAssertEqual(row["tags"], ["b", "c"])
        XCTAssertEqual(row["metadata"], .null)
        XCTAssertEqual(row["createdAt"], created["createdAt"])
        let createdAt = try XCTUnwrap(RFC3339.parse(created["updatedAt"]?.stringValue ?? ""))
        let updatedAt = try XCTUnwrap(RFC3339.parse(row["updatedAt"]?.stringValue ?? ""))
        XCTAssertGreaterThanOrEqual(updatedAt, createdAt)
    }

    func testUpdateExternalIdIsANoOpWhenEqualAnd422Otherwise() throws {
        let externalId = unique("chat")
        let id = try XCTUnwrap(try createSession(externalId: externalId)["id"]?.stringValue)

        let same = try assertStatus(api.updateSession(id, ["externalId": .string(externalId)]), 200, "same externalId")
        XCTAssertEqual(same["externalId"]?.stringValue, externalId)
        XCTAssertEqual(try api.updateSession(externalId, ["externalId": .string(externalId), "tags": ["t"]]).status, 200)

        assertError(try api.updateSession(id, ["externalId": .string(unique("other"))]), 422, "a different externalId")
        assertError(try api.updateSession(id, ["externalId": .null]), 422, "clearing the externalId")
        assertError(try api.updateSession(id, ["externalId": .string(unique("other")), "tags": ["changed"]]), 422,
                    "a different externalId with other fields")
        let row = try retrieveSession(externalId)
        XCTAssertEqual(row["externalId"]?.stringValue, externalId)
        XCTAssertEqual(row["tags"], ["t"], "a 422 update changes nothing")

        // A session without an externalId: null is its current value, anything else is a change.
        let bare = try XCTUnwrap(try createSession()["id"]?.stringValue)
        XCTAssertEqual(try api.updateSession(bare, ["externalId": .null]).status, 200, "null equals the current value")
        assertError(try api.updateSession(bare, ["externalId": .string(unique("late"))]), 422, "setting one after create")
    }

    func testUpdateValidatesItsBody() throws {
        let id = try XCTUnwrap(try createSession(tags: ["keep"])["id"]?.stringValue)
        assertError(try api.updateSession(id, ["tags": .array((0..<11).map { .string("t\($0)") })]), 400,
                    mentioning: ["tags"], "11 tags")
        assertError(try api.updateSession(id, ["tags": [.string(String(repeating: "g", count: 129))]]), 400,
                    mentioning: ["tags"], "a tag of 129 chars")
        let malformed = try api.http.request("PATCH", RelayAPI.sessionPath(id),
                                             headers: [("Content-Type", "application/json")], body: Data("{\"tags\":".utf8))
        assertError(malformed, 400, "malformed JSON")
        let oversized: JSON = ["metadata": ["pad": .string(String(repeating: "p", count: 33 * 1024))]]
        assertError(try api.updateSession(id, oversized), 413, "a 33 KiB update body")
        XCTAssertEqual(try retrieveSession(id)["tags"], ["keep"], "rejected updates change nothing")
    }

    func testUpdateUnknownSessionIs404() throws {
        assertError(try api.updateSession("session_" + String(repeating: "z", count: 25), ["tags": ["a"]]), 404)
        assertError(try api.updateSession(unique("never-created"), ["tags": ["a"]]), 404)
    }

    // MARK: Close

    func testCloseRecordsTheReasonAndASecondCloseKeepsTheFirst() throws {
        let externalId = unique("chat")
        let id = try XCTUnwrap(try createSession(externalId: externalId)["id"]?.stringValue)
        let before = Date()
        let closed = try assertStatus(api.closeSession(id, ["reason": "user signed out"]), 200, "close")
        assertSessionRow(closed)
        XCTAssertEqual(closed["status"], "CLOSED")
        XCTAssertEqual(closed["closedReason"], "user signed out")
        let closedAtText = try XCTUnwrap(closed["closedAt"]?.stringValue, "closedAt: \(closed)")
        let closedAt = try XCTUnwrap(RFC3339.parse(closedAtText))
        XCTAssertGreaterThanOrEqual(closedAt, before.addingTimeInterval(-1))
        XCTAssertLessThanOrEqual(closedAt, Date().addingTimeInterval(1))

        let again = try assertStatus(api.closeSession(externalId, ["reason": "second reason"]), 200, "second close")
        XCTAssertEqual(again["closedReason"], "user signed out", "the first reason is kept")
        XCTAssertEqual(again["closedAt"]?.stringValue, closedAtText, "the row is unchanged")
        XCTAssertEqual(again["status"], "CLOSED")

        let row = try retrieveSession(externalId)
        XCTAssertEqual(row["status"], "CLOSED")
        XCTAssertEqual(row["closedReason"], "user signed out")
    }

    func testCloseWithoutABodyOrReason() throws {
        let first = try XCTUnwrap(try createSession()["id"]?.stringValue)
        let closed = try assertStatus(api.closeSession(first), 200, "close with no body")
        XCTAssertEqual(closed["status"], "CLOSED")
        XCTAssertEqual(closed["closedReason"], .null)

        let second = try XCTUnwrap(try createSession()["id"]?.stringValue)
        let closedEmpty = try assertStatus(api.closeSession(second, [:]), 200, "close with {}")
        XCTAssertEqual(closedEmpty["status"], "CLOSED")
        XCTAssertEqual(closedEmpty["closedReason"], .null)
    }

    func testCloseBodyIsLimitedTo1KiBAndTheReasonTo256Chars() throws {
        let id = try XCTUnwrap(try createSession()["id"]?.stringValue)
        assertError(try api.closeSession(id, ["reason": .string(String(repeating: "r", count: 1_100))]), 413,
                    "a close body over 1 KiB")
        assertError(try api.closeSession(id, ["reason": .string(String(repeating: "r", count: 257))]), 400,
                    mentioning: ["reason"], "a reason of 257 chars")
        XCTAssertEqual(try retrieveSession(id)["status"], "ACTIVE", "rejected closes leave the session open")

        let longest = String(repeating: "r", count: 256)
        let closed = try assertStatus(api.closeSession(id, ["reason": .string(longest)]), 200, "a reason of 256 chars")
        XCTAssertEqual(closed["closedReason"]?.stringValue, longest)
    }

    func testCloseUnknownSessionIs404() throws {
        assertError(try api.closeSession("session_" + String(repeating: "1", count: 25)), 404)
        assertError(try api.closeSession(unique("never-created"), ["reason": "x"]), 404)
    }

    // MARK: Helpers

    /// A valid create body of exactly `size` bytes (padding in metadata).
    private func paddedCreateBody(externalId: String, size: Int) throws -> Data {
        let skeleton = sessionBody(externalId: externalId, metadata: ["pad": ""]).data.count
        guard size >= skeleton else { throw HarnessError("cannot pad a create body to \(size) bytes") }
        let body = sessionBody(externalId: externalId, metadata: ["pad": .string(String(repeating: "p", count: size - skeleton))])
        return body.data
    }

    private func createRaw(_ body: Data) throws -> HTTPResponse {
        try api.http.request("POST", RelayAPI.sessionsPath, headers: [("Content-Type", "application/json")], body: body)
    }

    private func split(_ data: Data, into size: Int) -> [Data] {
        stride(from: 0, to: data.count, by: size).map { data.subdata(in: $0..<min($0 + size, data.count)) }
    }
}
