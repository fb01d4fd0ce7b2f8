// SessionRequestTests.swift — create, update and close body validation, bound by bound.

import XCTest
@testable import RelayCore

final class SessionRequestTests: XCTestCase {
    private func create(_ json: String) throws -> CreateSessionRequest {
        try CreateSessionRequest.parse(bytes(json))
    }

    private func create(_ extra: [String: String]) throws -> CreateSessionRequest {
        var members = [#""type":"chat.agent""#, #""taskIdentifier":"my-chat""#]
        for (k, v) in extra.sorted(by: { $0.key < $1.key }) { members.append(jsonQuoted(k) + ":" + v) }
        return try create("{" + members.joined(separator: ",") + "}")
    }

    func testMinimalAndFullCreate() throws {
        XCTAssertEqual(try create([:]), CreateSessionRequest(type: "chat.agent", taskIdentifier: "my-chat"))
        let full = try create(#"""
        {"type":"chat.agent","taskIdentifier":"my-chat","externalId":"chat_1234","tags":["chat:1234"],
         "metadata":{"user":"u1"},"expiresAt":"2026-11-23T17:53:52.123Z","unknownTopLevel":1,
         "triggerConfig":{"basePayload":{"model":"x"},"machine":"small-1x","queue":"q","tags":["t"],
                          "maxAttempts":3,"maxDuration":30.5,"lockToVersion":"v1","region":"eu","idleTimeoutInSeconds":60}}
        """#)
        XCTAssertEqual(full.externalId, "chat_1234")
        XCTAssertEqual(full.tags, ["chat:1234"])
        XCTAssertEqual(full.metadata?["user"]?.stringValue, "u1")
        XCTAssertEqual(full.expiresAt, 1_795_456_432_123)
        XCTAssertEqual(full.triggerConfig?["basePayload"]?["model"]?.stringValue, "x")
        XCTAssertEqual(full.triggerConfig?["idleTimeoutInSeconds"]?.int64Value, 60)
    }

    func testMetadataAbsentVersusNull() throws {
        XCTAssertNil(try create([:]).metadata)
        XCTAssertEqual(try create(["metadata": "null"]).metadata, .null)
        XCTAssertEqual(try create(["metadata": "[1,\"a\"]"]).metadata, .array([.number("1"), .string("a")]))
    }

    func testBodyShape() {
        assertAPIError(400, "Malformed JSON body") { try self.create("{") }
        assertAPIError(400, "Malformed JSON body") { try self.create("") }
        assertAPIError(400, "Malformed JSON body") { try CreateSessionRequest.parse([0x22, 0xFF, 0x22]) }
        assertAPIError(400, "object") { try self.create("[]") }
        assertAPIError(400, "type is required") { try self.create(#"{"taskIdentifier":"t"}"#) }
        assertAPIError(400, "type is required") { try self.create(#"{"type":null,"taskIdentifier":"t"}"#) }
        assertAPIError(400, "taskIdentifier is required") { try self.create(#"{"type":"t"}"#) }
        assertAPIError(400, "type must be a string") { try self.create(#"{"type":1,"taskIdentifier":"t"}"#) }
    }

    func testTypeAndTaskBounds() throws {
        let t64 = String(repeating: "é", count: 64) // 128 bytes: bounds count characters
        XCTAssertEqual(try create(#"{"type":"\#(t64)","taskIdentifier":"t"}"#).type, t64)
        assertAPIError(400, "type must be 1-64 characters") {
            try self.create(#"{"type":"\#(t64)x","taskIdentifier":"t"}"#)
        }
        assertAPIError(400, "type must be 1-64 characters") { try self.create(#"{"type":"","taskIdentifier":"t"}"#) }
        let t128 = String(repeating: "a", count: 128)
        XCTAssertEqual(try create(#"{"type":"t","taskIdentifier":"\#(t128)"}"#).taskIdentifier, t128)
        assertAPIError(400, "taskIdentifier must be 1-128 characters") {
            try self.create(#"{"type":"t","taskIdentifier":"\#(t128)a"}"#)
        }
        assertAPIError(400, "taskIdentifier must be 1-128 characters") { try self.create(#"{"type":"t","taskIdentifier":""}"#) }
    }

    func testExternalId() throws {
        let e256 = String(repeating: "x", count: 256)
        XCTAssertEqual(try create(["externalId": jsonQuoted(e256)]).externalId, e256)
        XCTAssertNil(try create(["externalId": "null"]).externalId)
        assertAPIError(400, "externalId must be 1-256") { try self.create(["externalId": jsonQuoted(e256 + "x")]) }
        assertAPIError(400, "externalId must be 1-256") { try self.create(["externalId": #""""#]) }
        assertAPIError(400, "externalId must not start with") { try self.create(["externalId": #""session_1""#]) }
        assertAPIError(400, "externalId must be a string") { try self.create(["externalId": "5"]) }
        XCTAssertEqual(try create(["externalId": #""Session_1""#]).externalId, "Session_1")
    }

    func testTags() throws {
        let ten = "[" + (0..<10).map { "\"t\($0)\"" }.joined(separator: ",") + "]"
        XCTAssertEqual(try create(["tags": ten]).tags.count, 10)
        let eleven = "[" + (0..<11).map { "\"t\($0)\"" }.joined(separator: ",") + "]"
        assertAPIError(400, "tags must have at most 10") { try self.create(["tags": eleven]) }
        let tag128 = String(repeating: "g", count: 128)
        XCTAssertEqual(try create(["tags": "[\"\(tag128)\"]"]).tags, [tag128])
        assertAPIError(400, "tags must be 1-128") { try self.create(["tags": "[\"\(tag128)g\"]"]) }
        assertAPIError(400, "tags must be 1-128") { try self.create(["tags": #"[""]"#]) }
        assertAPIError(400, "tags must be an array of strings") { try self.create(["tags": "[1]"]) }
        assertAPIError(400, "tags must be an array of strings") { try self.create(["tags": #""a""#]) }
        XCTAssertEqual(try create(["tags": "null"]).tags, [])
    }

    func testExpiresAt() {
        assertAPIError(400, "expiresAt") { try self.create(["expiresAt": #""tomorrow""#]) }
        assertAPIError(400, "expiresAt") { try self.create(["expiresAt": "1795456432123"]) }
    }

    func testTriggerConfig() throws {
        XCTAssertNil(try create(["triggerConfig": "null"]).triggerConfig)
        XCTAssertNotNil(try create(["triggerConfig": #"{"maxAttempts":1e1,"machine":null}"#]).triggerConfig)
        let bad: [(String, String)] = [
            (#""x""#, "triggerConfig must be an object"),
            (#"{"basePayload":[]}"#, "triggerConfig.basePayload must be an object"),
            (#"{"machine":1}"#, "triggerConfig.machine must be a string"),
            (#"{"queue":true}"#, "triggerConfig.queue must be a string"),
            (#"{"lockToVersion":{}}"#, "triggerConfig.lockToVersion must be a string"),
            (#"{"region":[]}"#, "triggerConfig.region must be a string"),
            (#"{"tags":[1]}"#, "triggerConfig.tags must be an array of strings"),
            (#"{"maxAttempts":0}"#, "triggerConfig.maxAttempts must be a positive integer"),
            (#"{"maxAttempts":1.5}"#, "triggerConfig.maxAttempts must be a positive integer"),
            (#"{"idleTimeoutInSeconds":-1}"#, "triggerConfig.idleTimeoutInSeconds must be a positive integer"),
            (#"{"idleTimeoutInSeconds":"60"}"#, "triggerConfig.idleTimeoutInSeconds must be a positive integer"),
            (#"{"maxDuration":0}"#, "triggerConfig.maxDuration must be a positive number"),
            (#"{"maxDuration":"5"}"#, "triggerConfig.maxDuration must be a positive number"),
            (#"{"priority":1}"#, "triggerConfig.priority is not a recognized field"),
        ]
        for (config, message) in bad {
            assertAPIError(400, message) { try self.create(["triggerConfig": config]) }
        }
    }

    func testUpdate() throws {
        XCTAssertEqual(try UpdateSessionRequest.parse([]), UpdateSessionRequest())
        XCTAssertEqual(try UpdateSessionRequest.parse(bytes(" \n")), UpdateSessionRequest())
        XCTAssertEqual(try UpdateSessionRequest.parse(bytes("{}")), UpdateSessionRequest())
        let u = try UpdateSessionRequest.parse(bytes(#"{"tags":["a"],"metadata":{"k":1},"externalId":"chat_1"}"#))
        XCTAssertEqual(u.tags, ["a"])
        XCTAssertEqual(u.metadata, .set(.object([JSONMember(key: "k", value: .number("1"))])))
        XCTAssertEqual(u.externalId, .set("chat_1"))
        let cleared = try UpdateSessionRequest.parse(bytes(#"{"metadata":null,"externalId":null,"tags":null}"#))
        XCTAssertEqual(cleared.metadata, .set(.null))
        XCTAssertEqual(cleared.externalId, .set(nil))
        XCTAssertEqual(cleared.tags, [])
        let untouched = try UpdateSessionRequest.parse(bytes(#"{"other":1}"#))
        XCTAssertNil(untouched.tags)
        XCTAssertEqual(untouched.metadata, .absent)
        XCTAssertEqual(untouched.externalId, .absent)
        let eleven = "[" + (0..<11).map { "\"t\($0)\"" }.joined(separator: ",") + "]"
        assertAPIError(400, "tags must have at most 10") { try UpdateSessionRequest.parse(bytes(#"{"tags":\#(eleven)}"#)) }
        assertAPIError(400, "tags must be 1-128") { try UpdateSessionRequest.parse(bytes(#"{"tags":[""]}"#)) }
        assertAPIError(400, "externalId must be a string or null") { try UpdateSessionRequest.parse(bytes(#"{"externalId":1}"#)) }
        assertAPIError(400, "Malformed JSON body") { try UpdateSessionRequest.parse(bytes("{,}")) }
        assertAPIError(400, "object") { try UpdateSessionRequest.parse(bytes("null")) }
    }

    func testClose() throws {
        XCTAssertNil(try CloseSessionRequest.parse([]).reason)
        XCTAssertNil(try CloseSessionRequest.parse(bytes("{}")).reason)
        XCTAssertNil(try CloseSessionRequest.parse(bytes(#"{"reason":null}"#)).reason)
        XCTAssertEqual(try CloseSessionRequest.parse(bytes(#"{"reason":"done"}"#)).reason, "done")
        let r256 = String(repeating: "r", count: 256)
        XCTAssertEqual(try CloseSessionRequest.parse(bytes(#"{"reason":"\#(r256)"}"#)).reason, r256)
        assertAPIError(400, "reason must be at most 256") { try CloseSessionRequest.parse(bytes(#"{"reason":"\#(r256)r"}"#)) }
        assertAPIError(400, "reason must be a string or null") { try CloseSessionRequest.parse(bytes(#"{"reason":5}"#)) }
        assertAPIError(400, "Malformed JSON body") { try CloseSessionRequest.parse(bytes("reason")) }
    }
}
