// RedisErrorDisclosureTests.swift: Redis' error text never reaches clients. A failing Redis
// command answers a generic 500 (or 503 when Redis is full, busy or loading) whose body and
// X-Request-Id header carry a request id; the relay logs the real error with that id.
// Its own redis and relay: these tests break Redis on purpose.

import XCTest
import Foundation

final class RedisErrorDisclosureTests: RelayTestCase {
    private let shaPattern = try! Regex("[0-9a-f]{40}")

    /// Asserts the answer is `status` with a generic message and a request id (body and header),
    /// free of Redis' text, and that the relay logged the request id with `cause`.
    private func assertHidden(_ response: HTTPResponse, _ status: Int, cause: String, context: String,
                              file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(response.status, status, "\(context): \(response)", file: file, line: line)
        let body = try response.json()
        let requestId = try XCTUnwrap(body["requestId"]?.stringValue, "\(context): no requestId in \(response)", file: file, line: line)
        XCTAssertTrue(requestId.hasPrefix("req_"), requestId, file: file, line: line)
        XCTAssertEqual(response.headers["X-Request-Id"], requestId, "\(context): X-Request-Id", file: file, line: line)
        for leak in [cause, "script", "Redis error", "user_script", "@", "maxmemory"] {
            XCTAssertFalse(response.text.contains(leak), "\(context): the body reveals \(leak): \(response.text)", file: file, line: line)
        }
        XCTAssertNil(response.text.firstMatch(of: shaPattern), "\(context): a script sha: \(response.text)", file: file, line: line)
        try waitUntil(timeout: 5, "the relay to log \(requestId) with \(cause)") {
            relay.logTail(maxBytes: 64_000).split(separator: "\n").contains { $0.contains(requestId) && $0.contains(cause) }
        }
    }

    func testRedisOutOfMemoryIsA503WithARequestIdAndNoRedisText() throws {
        let session = try api.newSession()
        let redisClient = try redis.client()
        defer {
            _ = try? redisClient.command("CONFIG", "SET", "maxmemory", "0")
            redisClient.close()
        }
        try redisClient.checked("CONFIG", "SET", "maxmemory-policy", "noeviction")
        try redisClient.checked("CONFIG", "SET", "maxmemory", "1")

        try assertHidden(try api.createSession(sessionBody()), 503, cause: "OOM", context: "create")
        let append = try api.append(session, "in", "hello")
        try assertHidden(append, 503, cause: "OOM", context: "append")
        XCTAssertEqual(try append.json()["ok"], false, "appends keep their error shape")
        XCTAssertEqual(try append.json()["error"]?.stringValue, "Redis is unavailable, try again")

        try redisClient.checked("CONFIG", "SET", "maxmemory", "0")
        XCTAssertEqual(try api.append(session, "in", "hello").status, 200, "back to normal")
    }

    func testOtherRedisErrorsAreAGeneric500() throws {
        // A key of the wrong type where the scripts expect env_prod's externalId hash (this
        // class's Redis is its own, and no other test here uses env_prod).
        let redisClient = try redis.client()
        let extKey = "relay:{env:\(TestEnvironments.prodId)}:ext"
        try redisClient.checked("SET", extKey, "not a hash")
        defer {
            _ = try? redisClient.command("DEL", extKey)
            redisClient.close()
        }
        let response = try prodAPI.createSession(sessionBody(externalId: unique("x")))
        try assertHidden(response, 500, cause: "WRONGTYPE", context: "create")
        XCTAssertEqual(response.errorMessage, "Internal error")
    }
}
