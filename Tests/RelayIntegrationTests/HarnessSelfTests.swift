// HarnessSelfTests.swift: checks the test harness itself, without a relay.
//
// If these fail, the other integration tests' failures say nothing about the relay.

import XCTest
import Foundation

final class HarnessSelfTests: XCTestCase {
    func testRedisServerAnswersStreamCommandsAndRestartsOnTheSamePort() throws {
        let server = try RedisServer()
        defer { server.destroy() }
        try server.start()
        let client = try server.client()
        XCTAssertEqual(try client.checked("SET", "k", "v"), .simple("OK"))
        XCTAssertEqual(try client.checked("GET", "k"), .bulk("v"))
        XCTAssertEqual(try client.checked("GET", "missing"), .null)
        XCTAssertEqual(try client.checked("INCR", "n"), .integer(1))
        if case .error = try client.command("NOSUCHCOMMAND") {} else { XCTFail("an unknown command must be an error reply") }

        try client.checked("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
        try client.checked("XADD", "s", "*", "runId", "run_1", "payload", #"{"a":1}"#)
        let entries = try client.xrange("s")
        XCTAssertEqual(entries.count, 1)
        XCTAssertEqual(entries.first?.fields, ["runId": "run_1", "payload": #"{"a":1}"#])
        XCTAssertEqual(try client.groupNames(ofStream: "s"), ["g"])
        XCTAssertEqual(try client.xreadgroup(group: "g", consumer: "c", key: "s").map(\.fields["runId"]), ["run_1"])
        XCTAssertEqual(try client.xreadgroup(group: "g", consumer: "c", key: "s").count, 0)
        XCTAssertEqual(try client.keys("*").sorted(), ["k", "n", "s"])
        client.close()

        try server.restart()
        let again = try server.client()
        XCTAssertEqual(try again.keys("*"), [], "no persistence: a restarted server is empty")
        try again.ping()
        again.close()

        server.stop()
        XCTAssertThrowsError(try RedisClient(port: server.port, timeout: 1))
    }

    func testTokenSigningMatchesTheJWTExample() throws {
        // The HS256 example of jwt.io.
        let token = try TestToken.sign(headerJSON: #"{"alg":"HS256","typ":"JWT"}"#,
                                       payloadJSON: #"{"sub":"1234567890","name":"John Doe","iat":1516239022}"#,
                                       secret: "your-256-bit-secret")
        XCTAssertEqual(token, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
            + ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ"
            + ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
    }

    func testMintedTokenCarriesTheClaims() throws {
        let iat = Date(timeIntervalSince1970: 1_700_000_000)
        let token = try TestToken.mint(envId: "env_dev", scopes: ["read:sessions:chat:1"], secret: "k", iat: iat)
        let claims = try TestToken.claims(of: token)
        XCTAssertEqual(claims, ["sub": "env_dev", "pub": true, "scopes": ["read:sessions:chat:1"],
                                "iat": 1_700_000_000, "exp": 1_700_003_600])
        XCTAssertEqual(try TestToken.header(of: token), ["alg": "HS256", "typ": "JWT"])
        XCTAssertTrue(try TestToken.hasValidSignature(token, secret: "k"))
        XCTAssertFalse(try TestToken.hasValidSignature(token, secret: "other"))
    }

    func testHTTPClientReadsContentLengthChunkedAndCloseDelimitedBodies() throws {
        let fixed = try CannedHTTPServer(response:
            "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nX-Thing: a\r\nContent-Length: 13\r\n\r\n{\"ok\": true}\n")
        let first = try HTTPClient(port: fixed.port).request("POST", "/x", json: ["a": 1])
        XCTAssertEqual(first.status, 201)
        XCTAssertEqual(first.headers["content-type"], "application/json")
        XCTAssertEqual(first.headers["x-THING"], "a")
        XCTAssertEqual(try first.json(), ["ok": true])
        let request = try fixed.receivedRequest()
        XCTAssertTrue(request.hasPrefix("POST /x HTTP/1.1\r\n"), request)
        XCTAssertTrue(request.contains("Content-Length: 7\r\n"), request)
        XCTAssertTrue(request.hasSuffix("\r\n\r\n{\"a\":1}"), request)

        let chunked = try CannedHTTPServer(responsePieces: [
            Array("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 405 Method Not Allowed\r\nAllow: GET, PATCH\r\n".utf8),
            Array("Transfer-Encoding: chunked\r\n\r\n5\r\n{\"err".utf8),
            Array("\r\nc;ext=1\r\nor\": \"nope\"}\r\n0\r\nTrailer: x\r\n\r\n".utf8),
        ])
        let second = try HTTPClient(port: chunked.port).request("PUT", "/y")
        XCTAssertEqual(second.status, 405)
        XCTAssertEqual(second.headers.listValues("allow"), ["GET", "PATCH"])
        XCTAssertEqual(second.errorMessage, "nope")
        XCTAssertTrue(try chunked.receivedRequest().contains("Content-Length: 0\r\n"))

        let closeDelimited = try CannedHTTPServer(response: "HTTP/1.1 200 OK\r\n\r\nplain text")
        let third = try HTTPClient(port: closeDelimited.port).request("GET", "/z")
        XCTAssertEqual(third.text, "plain text")
    }

    func testHTTPClientSendsChunkedBodies() throws {
        let server = try CannedHTTPServer(response: "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n")
        let response = try HTTPClient(port: server.port)
            .requestChunked("POST", "/c", chunks: [Data("hello".utf8), Data(repeating: 65, count: 20)])
        XCTAssertEqual(response.status, 413)
        let request = try server.receivedRequest()
        XCTAssertTrue(request.contains("Transfer-Encoding: chunked\r\n"), request)
        XCTAssertTrue(request.hasSuffix("\r\n\r\n5\r\nhello\r\n14\r\n" + String(repeating: "A", count: 20) + "\r\n0\r\n\r\n"),
                      request)
    }

    func testQueryEscaping() {
        XCTAssertEqual(HTTPClient.path("/api/v1/sessions", query: [("page[size]", "5"), ("filter[tags]", "a b,c:d")]),
                       "/api/v1/sessions?page%5Bsize%5D=5&filter%5Btags%5D=a%20b,c:d")
        XCTAssertEqual(RelayAPI.sessionPath("chat:1/2"), "/api/v1/sessions/chat:1%2F2")
    }

    func testSSEConnectionParsesEventsSplitAcrossChunks() throws {
        let stream = "id: 1\ndata: {\"data\":\"a\",\"id\":1}\n\n: ping\n\nid: 2\r\nevent: control\r\ndata: line1\r\ndata: line2\r\n\r\n"
            + "data: last\n\nid: 9\ndata: unterminated"
        var pieces: [[UInt8]] = [Array("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)]
        // Chunks of 7 bytes, so lines, CR LF pairs and events straddle chunk boundaries.
        let bytes = Array(stream.utf8)
        for start in stride(from: 0, to: bytes.count, by: 7) {
            let chunk = Array(bytes[start..<min(start + 7, bytes.count)])
            pieces.append(Array("\(String(chunk.count, radix: 16))\r\n".utf8) + chunk + [13, 10])
        }
        pieces.append(Array("0\r\n\r\n".utf8))
        let server = try CannedHTTPServer(responsePieces: pieces)
        let sse = try SSEConnection.open(port: server.port, path: "/realtime/v1/sessions/s/out",
                                         headers: [("Last-Event-ID", "0")])
        XCTAssertEqual(sse.status, 200)
        XCTAssertEqual(sse.headers["content-type"], "text/event-stream")
        let first = try XCTUnwrap(sse.nextEvent())
        XCTAssertEqual(first.id, "1")
        XCTAssertEqual(try first.json(), ["data": "a", "id": 1])
        XCTAssertEqual(try sse.nextEvent(), SSEEvent(comments: ["ping"]))
        XCTAssertEqual(try sse.nextDataEvent(), SSEEvent(id: "2", event: "control", data: "line1\nline2"))
        XCTAssertEqual(try sse.nextEvent()?.data, "last")
        XCTAssertNil(try sse.nextEvent(), "the stream ended; an unterminated block is dropped")
        XCTAssertTrue(try server.receivedRequest().contains("Last-Event-ID: 0\r\n"))
    }

    func testSSEConnectionTimesOutWhenNothingArrives() throws {
        let listener = try TCPListener()
        let sseDone = DispatchSemaphore(value: 0)
        Thread {
            if let socket = try? listener.accept(deadline: .after(5)) {
                _ = try? socket.send(Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".utf8), deadline: .after(5))
                _ = sseDone.wait(timeout: .now() + 10)
                socket.close()
            }
        }.start()
        defer { sseDone.signal() }
        let sse = try SSEConnection.open(port: listener.port, path: "/")
        let started = Date()
        XCTAssertThrowsError(try sse.nextEvent(timeout: 0.3))
        XCTAssertLessThan(Date().timeIntervalSince(started), 3)
    }

    func testConcurrentMapOverlapsCalls() throws {
        let lock = NSLock()
        var inFlight = 0
        var maxInFlight = 0
        let results = try concurrentMap(8) { index -> Int in
            lock.lock(); inFlight += 1; maxInFlight = max(maxInFlight, inFlight); lock.unlock()
            try waitUntil(timeout: 5, interval: 0.005, "all threads to be in flight") {
                lock.lock(); defer { lock.unlock() }
                return maxInFlight == 8
            }
            lock.lock(); inFlight -= 1; lock.unlock()
            return index * 2
        }
        XCTAssertEqual(results, [0, 2, 4, 6, 8, 10, 12, 14])
    }

    func testJSONDistinguishesAbsentNullBoolAndNumber() throws {
        let value = try JSON(parsing: #"{"a": null, "b": true, "c": 1, "d": 1.5, "e": [1, "x"]}"#)
        XCTAssertEqual(value["a"], .null)
        XCTAssertNil(value["missing"])
        XCTAssertEqual(value["b"], true)
        XCTAssertNotEqual(value["c"], true)
        XCTAssertEqual(value["c"], 1)
        XCTAssertEqual(value["c"]?.intValue, 1)
        XCTAssertNil(value["d"]?.intValue)
        XCTAssertEqual(value["e"], [1, "x"])
        XCTAssertEqual(JSON(any: ["n": 1800, "s": "x", "l": [true, NSNull()]] as [String: Any]),
                       ["n": 1800, "s": "x", "l": [true, .null]])
        XCTAssertEqual(JSON.object(["b": 1, "a": [2.5, "/"]]).serialized, #"{"a":[2.5,"/"],"b":1}"#)
    }
}
