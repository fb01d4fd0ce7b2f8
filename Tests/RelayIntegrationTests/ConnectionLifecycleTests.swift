// ConnectionLifecycleTests.swift: what a connection costs the relay when its client misbehaves
// after the head: pipelining without reading, reading slowly, half-closing, vanishing mid-body
// or before its stream starts, talking during a stream. Found by a hostile review of the HTTP
// server; each case used to leak memory, a count or an answer.

import XCTest
import Foundation

final class ConnectionLifecycleTests: RelayTestCase {
    override class var relayEnvironment: [String: String] { ["RELAY_KEEPALIVE_TIMEOUT_SECONDS": "1.5"] }

    /// A client that pipelines requests and never reads the answers: the relay stops reading
    /// once 64 KiB of answers are queued (it grew by about 1 GiB in 8 s before).
    func testPipeliningWithoutReadingHoldsBoundedMemory() throws {
        let pid = try XCTUnwrap(relay.pid)
        let before = try XCTUnwrap(residentBytes(pid: pid))
        let connection = try RawConnection(port: relay.port, receiveBuffer: 4096)
        defer { connection.close() }
        let burst = Array(String(repeating: "GET /demo HTTP/1.1\r\nHost: relay\r\n\r\n", count: 1_000).utf8)
        let started = Date()
        var sent = 0
        while Date().timeIntervalSince(started) < 3, (try? connection.send(burst, timeout: 0.5)) != nil { sent += 1 }
        let after = try XCTUnwrap(residentBytes(pid: pid))
        XCTAssertLessThan(sent, 200, "the relay stopped reading: \(sent) bursts of 1,000 requests were taken")
        XCTAssertLessThan(after - before, 24 << 20, "RSS grew from \(before >> 20) MiB to \(after >> 20) MiB")
    }

    /// A 3.6 MB answer read slowly on a keep-alive connection arrives whole: the keep-alive
    /// timeout (1.5 s here) starts only once the answer is written.
    func testASlowReaderGetsTheWholeAnswer() throws {
        let session = try api.newSession()
        let record = String(repeating: "r", count: 900_000)
        for _ in 0..<4 { XCTAssertEqual(try api.append(session, "out", record).status, 200) }
        let connection = try RawConnection(port: relay.port, receiveBuffer: 16 * 1024)
        defer { connection.close() }
        try connection.send("GET \(RelayAPI.channelPath(session, "out"))/records HTTP/1.1\r\nHost: relay\r\n"
            + "Authorization: Bearer \(TestEnvironments.devKey)\r\n\r\n")
        Thread.sleep(forTimeInterval: 2.5)  // the slow reader's pace: longer than the keep-alive timeout
        let response = try connection.readResponse(timeout: 20)
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(try response.json()["records"]?.arrayValue?.count, 4, "the whole body arrived")
    }

    /// Pipelined requests followed by a half-close (SHUT_WR) are all answered, then the
    /// connection ends.
    func testAHalfClosedClientGetsEveryAnswer() throws {
        let connection = try RawConnection(port: relay.port)
        defer { connection.close() }
        try connection.send(String(repeating: "GET /demo HTTP/1.1\r\nHost: relay\r\n\r\n", count: 20)
            + "GET /healthz HTTP/1.1\r\nHost: relay\r\n\r\n")
        connection.socket.shutdownWrite()
        for i in 0..<20 { XCTAssertEqual(try connection.readResponse(timeout: 5).status, 200, "answer \(i)") }
        let last = try connection.readResponse(timeout: 5)
        XCTAssertEqual(last.text, #"{"ok":true}"#)
        XCTAssertTrue(try connection.closedByServer())
    }

    /// Clients that vanish mid-body leave no open request behind (a draining node waits for
    /// open requests, so a leak made every shutdown wait out its timeout).
    func testClientsVanishingMidBodyLeaveNoOpenRequests() throws {
        let session = try api.newSession()
        let baseline = try XCTUnwrap(scrapeMetrics()["relay_http_open_requests"])
        let auth = "Authorization: Bearer \(TestEnvironments.devKey)\r\n"
        let path = RelayAPI.channelPath(session, "in") + "/append"
        let partial = [
            "POST \(path) HTTP/1.1\r\nHost: relay\r\n\(auth)Content-Length: 100000\r\n\r\n" + String(repeating: "x", count: 5_000),
            "POST \(path) HTTP/1.1\r\nHost: relay\r\n\(auth)Transfer-Encoding: chunked\r\n\r\n10\r\n0123",
            "POST \(path) HTTP/1.1\r\nHost: relay\r\n\(auth)Expect: 100-continue\r\nContent-Length: 10\r\n\r\n",
        ]
        for text in partial {
            for _ in 0..<5 {
                let connection = try RawConnection(port: relay.port)
                try connection.send(text)
                connection.reset()
            }
        }
        try waitUntil(timeout: 5, "open requests to return to \(baseline)") {
            try scrapeMetrics()["relay_http_open_requests"] == baseline
        }
        XCTAssertEqual(try scrapeMetrics()["relay_http_buffered_body_bytes"], 0)
        XCTAssertEqual(try api.drain(session, "in").json()["records"]?.arrayValue?.count, 0)
    }

    /// Clients that reset their connection before their stream starts leave no subscriber.
    func testStreamsWhoseClientLeftBeforeTheStartLeaveNoSubscriber() throws {
        let session = try api.newSession()
        let gauge = #"relay_sse_subscribers{channel="out"}"#
        let baseline = try scrapeMetrics()[gauge] ?? 0
        for _ in 0..<20 {
            let connection = try RawConnection(port: relay.port)
            try connection.send("GET \(RelayAPI.channelPath(session, "out")) HTTP/1.1\r\nHost: relay\r\n"
                + "Authorization: Bearer \(TestEnvironments.devKey)\r\nTimeout-Seconds: 600\r\n\r\n")
            connection.reset()
        }
        try waitUntil(timeout: 5, "the subscriber gauge to return to \(baseline)") {
            (try scrapeMetrics()[gauge] ?? 0) <= baseline
        }
    }

    /// Bytes sent during a stream are dropped, and the connection ends with the stream: what
    /// follows cannot be trusted as the start of a request.
    func testAConnectionThatTalkedDuringAStreamEndsWithIt() throws {
        let session = try api.newSession()
        let connection = try RawConnection(port: relay.port)
        defer { connection.close() }
        try connection.send("GET \(RelayAPI.channelPath(session, "out")) HTTP/1.1\r\nHost: relay\r\n"
            + "Authorization: Bearer \(TestEnvironments.devKey)\r\nTimeout-Seconds: 1\r\n\r\n")
        let head = try HTTPResponseHead.read(from: connection.reader, deadline: .after(5))
        XCTAssertEqual(head.status, 200)
        try connection.send("GET /healthz HTTP/1.1\r\nHost: relay\r\n\r\n")
        XCTAssertTrue(connection.isClosed(within: 5), "the connection ends with the stream")
    }

    func testBareLFHeadsAreRefusedAtOnce() throws {
        let connection = try RawConnection(port: relay.port)
        defer { connection.close() }
        try connection.send("GET /healthz HTTP/1.1\nHost: relay\n\n")
        assertError(try connection.readResponse(timeout: 1), 400, mentioning: ["LF"])
    }

    func testPreflightAnswersCarryNoContentLength() throws {
        let response = try http.request("OPTIONS", "/api/v1/sessions", headers: [("Origin", "https://app.example"),
                                                                                ("Access-Control-Request-Method", "POST")])
        XCTAssertEqual(response.status, 204)
        XCTAssertNil(response.headers["Content-Length"], "204 answers carry no Content-Length (RFC 9110 8.6)")
    }
}

/// The body budget counts bytes received, not bytes declared.
final class BodyBudgetTests: RelayTestCase {
    override class var relayEnvironment: [String: String] { ["RELAY_MAX_BUFFERED_BODY_BYTES": "1048576"] }

    func testDeclaredButUnsentBodiesDoNotExhaustTheBudget() throws {
        let session = try api.newSession()
        let auth = "Authorization: Bearer \(TestEnvironments.devKey)\r\n"
        let path = RelayAPI.channelPath(session, "in") + "/append"
        let idle = try RawConnection(port: relay.port)
        defer { idle.close() }
        try idle.send("POST \(path) HTTP/1.1\r\nHost: relay\r\n\(auth)Content-Length: 1048576\r\n\r\n")
        XCTAssertEqual(try api.append(session, "in", "small").status, 200, "a declared body holds no budget")

        let holder = try RawConnection(port: relay.port)
        defer { holder.close() }
        try holder.send("POST \(path) HTTP/1.1\r\nHost: relay\r\n\(auth)Content-Length: 1048576\r\n\r\n"
            + String(repeating: "h", count: 1_000_000))
        try waitUntil(timeout: 5, "the relay to hold the first body's bytes") {
            (try scrapeMetrics()["relay_http_buffered_body_bytes"] ?? 0) >= 1_000_000
        }
        let refused = try api.append(session, "in", String(repeating: "b", count: 100_000))
        XCTAssertEqual(refused.status, 503, "a body over the budget: \(refused)")
        holder.close()
        try waitUntil(timeout: 5, "the budget to be released") {
            try scrapeMetrics()["relay_http_buffered_body_bytes"] == 0
        }
        XCTAssertEqual(try api.append(session, "in", String(repeating: "b", count: 100_000)).status, 200)
    }
}
