// RunsTests.swift: run dispatch and completion (docs/API.md, Runs).

import XCTest
import Foundation

final class RunsTests: RelayTestCase {

    func testRunStreamsAndTheirConsumerGroupExistFromStart() throws {
        let client = try redis.client()
        defer { client.close() }
        // env_prod gets no session in this class: its group can only come from the relay's start.
        for envId in [TestEnvironments.devId, TestEnvironments.prodId] {
            let key = Self.runStreamKey(envId: envId)
            XCTAssertTrue(try client.groupNames(ofStream: key).contains(Self.runConsumerGroup),
                          "\(key) has the consumer group \(Self.runConsumerGroup)")
        }
    }

    func testWorkersReadRunRequestsThroughTheConsumerGroup() throws {
        let created = try createSession(externalId: unique("worker"))
        let runId = try XCTUnwrap(created["runId"]?.stringValue)
        let client = try redis.client()
        defer { client.close() }
        let consumer = unique("test-worker")
        let delivered = try waitForValue(timeout: 5, "run \(runId) delivered to a consumer of \(Self.runConsumerGroup)") {
            try client.xreadgroup(group: Self.runConsumerGroup, consumer: consumer,
                                  key: Self.runStreamKey(envId: TestEnvironments.devId), count: 1_000)
                .first { $0.fields["runId"] == runId }
        }
        XCTAssertEqual(delivered.fields["sessionId"], created["id"]?.stringValue)
    }

    func testCompletingTheCurrentRunWithASecretKeyClearsIt() throws {
        let created = try createSession(externalId: unique("chat"))
        let id = try XCTUnwrap(created["id"]?.stringValue)
        let runId = try XCTUnwrap(created["runId"]?.stringValue)

        let completed = try assertStatus(api.completeRun(runId), 200, "complete")
        XCTAssertEqual(completed, ["id": .string(runId), "sessionId": .string(id), "status": "COMPLETED"])
        let row = try retrieveSession(id)
        XCTAssertEqual(row["currentRunId"], .null, "currentRunId is cleared: \(row)")
        XCTAssertEqual(row["status"], "ACTIVE", "completing a run does not close the session")
    }

    func testCompletingARunNeedsASecretKey() throws {
        let created = try createSession(externalId: unique("chat"))
        let id = try XCTUnwrap(created["id"]?.stringValue)
        let runId = try XCTUnwrap(created["runId"]?.stringValue)
        let sessionToken = try XCTUnwrap(created["publicAccessToken"]?.stringValue)

        assertError(try api(bearer: sessionToken).completeRun(runId), 403, "the session's public token")
        assertError(try api(bearer: try devToken(["admin"])).completeRun(runId), 403, "an admin public token")
        assertError(try api(bearer: nil).completeRun(runId), 401, "no credentials")
        assertError(try api(bearer: "tr_dev_unknown").completeRun(runId), 401, "an unknown key")
        XCTAssertEqual(try retrieveSession(id)["currentRunId"]?.stringValue, runId, "the run is still current")
    }

    func testCompletingAnUnknownRunIs404() throws {
        assertError(try api.completeRun("run_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")),
                    404, "unknown run")
        let runId = try XCTUnwrap(try createSession()["runId"]?.stringValue)
        assertError(try prodAPI.completeRun(runId), 404, "env_dev's run with env_prod's key")
    }

    func testCachedCreateAfterCompletionTriggersAContinuationRun() throws {
        let externalId = unique("chat")
        let triggerConfig: JSON = ["basePayload": ["agent": "echo"], "idleTimeoutInSeconds": 60, "region": "eu"]
        let first = try createSession(taskIdentifier: "echo-task", externalId: externalId, triggerConfig: triggerConfig)
        let id = try XCTUnwrap(first["id"]?.stringValue)
        let firstRun = try XCTUnwrap(first["runId"]?.stringValue)
        _ = try waitForDispatchedRun(firstRun)
        XCTAssertEqual(try api.completeRun(firstRun).status, 200)

        let cached = try assertStatus(api.createSession(sessionBody(taskIdentifier: "echo-task", externalId: externalId,
                                                                    triggerConfig: triggerConfig)), 200, "cached create")
        XCTAssertEqual(cached["isCached"], true)
        XCTAssertEqual(cached["id"]?.stringValue, id)
        let secondRun = try XCTUnwrap(cached["runId"]?.stringValue)
        XCTAssertTrue(secondRun.hasPrefix("run_"))
        XCTAssertNotEqual(secondRun, firstRun, "a session with no live run gets a new one")
        XCTAssertEqual(cached["currentRunId"]?.stringValue, secondRun)
        XCTAssertEqual(try retrieveSession(id)["currentRunId"]?.stringValue, secondRun)

        let request = try waitForDispatchedRun(secondRun)
        XCTAssertEqual(request.fields["sessionId"], id)
        XCTAssertEqual(request.fields["externalId"], externalId)
        XCTAssertEqual(request.fields["taskIdentifier"], "echo-task")
        XCTAssertEqual(request.fields["continuation"], "true")
        XCTAssertEqual(request.fields["previousRunId"], firstRun)
        XCTAssertEqual(try JSON(parsing: request.fields["payload"] ?? ""),
                       ["agent": "echo", "sessionId": .string(id), "idleTimeoutInSeconds": 60,
                        "continuation": true, "previousRunId": .string(firstRun)])
        XCTAssertEqual(try JSON(parsing: request.fields["triggerConfig"] ?? ""), ["idleTimeoutInSeconds": 60, "region": "eu"])
        XCTAssertEqual(try dispatchedRuns(forSession: id).map { $0.fields["runId"] ?? "" }, [firstRun, secondRun])

        // The continuation is live: another cached create returns it without a third run.
        let again = try assertStatus(api.createSession(sessionBody(taskIdentifier: "echo-task", externalId: externalId)),
                                     200, "second cached create")
        XCTAssertEqual(again["runId"]?.stringValue, secondRun)
        XCTAssertEqual(try dispatchedRuns(forSession: id).count, 2)
    }
}

/// A run consumer group that cannot be created is an error in the log, not silence.
final class RunGroupErrorTests: RelayTestCase {
    func testAFailedGroupCreationIsLogged() throws {
        let client = try redis.client()
        let key = "relay:{env:\(TestEnvironments.prodId)}:runs"
        _ = try client.checked("DEL", key)
        _ = try client.checked("SET", key, "not a stream")
        // Make the relay reconnect: it creates the groups again on every connect.
        _ = try client.command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
        try waitUntil(timeout: 10, "the relay to log the failed group creation") {
            relay.logTail().contains("cannot create the run consumer group")
        }
        XCTAssertTrue(relay.logTail().contains(TestEnvironments.prodId), relay.logTail())
        _ = try client.checked("DEL", key)
    }
}
