// RelayTestCase+Sessions.swift: session fixtures and the run dispatch stream.

import XCTest
import Foundation

extension RelayTestCase {
    /// A create body. Only non-nil arguments become fields.
    func sessionBody(type: String = "chat.agent", taskIdentifier: String = "my-chat", externalId: String? = nil,
                     tags: [String]? = nil, metadata: JSON? = nil, triggerConfig: JSON? = nil,
                     expiresAt: String? = nil) -> JSON {
        var body: [String: JSON] = ["type": .string(type), "taskIdentifier": .string(taskIdentifier)]
        if let externalId { body["externalId"] = .string(externalId) }
        if let tags { body["tags"] = .array(tags.map(JSON.string)) }
        if let metadata { body["metadata"] = metadata }
        if let triggerConfig { body["triggerConfig"] = triggerConfig }
        if let expiresAt { body["expiresAt"] = .string(expiresAt) }
        return .object(body)
    }

    /// Creates a session and returns the response body; throws unless the status is 201.
    @discardableResult
    func createSession(_ body: JSON, with api: RelayAPI? = nil) throws -> JSON {
        let response = try (api ?? self.api).createSession(body)
        guard response.status == 201 else {
            throw HarnessError("create \(body) expected 201, got \(response)")
        }
        return try response.json()
    }

    /// Creates a session from `sessionBody(...)` arguments; throws unless 201.
    @discardableResult
    func createSession(type: String = "chat.agent", taskIdentifier: String = "my-chat", externalId: String? = nil,
                       tags: [String]? = nil, metadata: JSON? = nil, triggerConfig: JSON? = nil,
                       expiresAt: String? = nil, with api: RelayAPI? = nil) throws -> JSON {
        try createSession(sessionBody(type: type, taskIdentifier: taskIdentifier, externalId: externalId, tags: tags,
                                      metadata: metadata, triggerConfig: triggerConfig, expiresAt: expiresAt), with: api)
    }

    /// GET a session; throws unless 200.
    func retrieveSession(_ session: String, with api: RelayAPI? = nil) throws -> JSON {
        let response = try (api ?? self.api).retrieveSession(session)
        guard response.status == 200 else { throw HarnessError("retrieve \(session) expected 200, got \(response)") }
        return try response.json()
    }

    /// Creates a session (from `body`, which must not set expiresAt) whose status is EXPIRED
    /// when this returns. Tries an expiresAt one second in the past; if the relay refuses a
    /// past deadline (400), uses now + 1.5 s and polls until the row reads EXPIRED.
    @discardableResult
    func createExpiredSession(_ body: JSON) throws -> JSON {
        let past = body.setting("expiresAt", .string(RFC3339.format(Date().addingTimeInterval(-1))))
        let response = try api.createSession(past)
        if response.status == 201 { return try response.json() }
        guard response.status == 400 else {
            throw HarnessError("create with a past expiresAt: expected 201 or 400, got \(response)")
        }
        let soon = body.setting("expiresAt", .string(RFC3339.format(Date().addingTimeInterval(1.5))))
        let created = try createSession(soon)
        let id = try XCTUnwrap(created["id"]?.stringValue)
        try waitUntil(timeout: 10, "session \(id) to read EXPIRED") {
            try retrieveSession(id)["status"] == "EXPIRED"
        }
        return created
    }

    // MARK: Run dispatch

    static func runStreamKey(envId: String) -> String { "relay:{env:\(envId)}:runs" }
    static let runConsumerGroup = "relay-workers"

    /// Every run request dispatched in `envId`, oldest first.
    func dispatchedRuns(envId: String = TestEnvironments.devId) throws -> [StreamEntry] {
        let client = try redis.client()
        defer { client.close() }
        return try client.xrange(Self.runStreamKey(envId: envId))
    }

    /// Run requests for one session, oldest first.
    func dispatchedRuns(forSession id: String, envId: String = TestEnvironments.devId) throws -> [StreamEntry] {
        try dispatchedRuns(envId: envId).filter { $0.fields["sessionId"] == id }
    }

    /// The run request for `runId`, waiting (bounded) for it to appear.
    func waitForDispatchedRun(_ runId: String, envId: String = TestEnvironments.devId,
                              timeout: TimeInterval = 5) throws -> StreamEntry {
        try waitForValue(timeout: timeout, "run \(runId) in stream \(Self.runStreamKey(envId: envId))") {
            try dispatchedRuns(envId: envId).first { $0.fields["runId"] == runId }
        }
    }
}
