// HostileRequestTests.swift: requests built to be read two ways (smuggling), control bytes in
// headers, and bodies sent before credentials. Each is refused with a 4xx, ends the connection
// where the framing is in doubt, and stores nothing.

import XCTest
import Foundation

final class HostileRequestTests: RelayTestCase {
    private var auth: String { "Authorization: Bearer \(TestEnvironments.devKey)\r\n" }

    private func appendHead(_ session: String, _ extra: String) -> String {
        "POST \(RelayAPI.channelPath(session, "in"))/append HTTP/1.1\r\nHost: relay\r\n\(auth)\(extra)\r\n"
    }

    private func storedRecords(_ session: String) throws -> Int {
        let drained = try api.drain(session, "in")
        XCTAssertEqual(drained.status, 200, "\(drained)")
        return try drained.json()["records"]?.arrayValue?.count ?? -1
    }

    /// Sends `text` on a fresh connection; returns the one response and whether the relay then
    /// closed the connection without answering anything else.
    private func refusal(_ text: String) throws -> (response: HTTPResponse, closed: Bool) {
        let connection = try RawConnection(port: relay.port)
        defer { connection.close() }
        try connection.send(text)
        let response = try connection.readResponse()
        return (response, try connection.closedByServer())
    }

    func testTwoContentLengthsAreRefusedAndTheTailIsNotRunAsASecondRequest() throws {
        let session = try api.newSession()
        let smuggled = "POST \(RelayAPI.channelPath(session, "in"))/append HTTP/1.1\r\nHost: relay\r\n\(auth)"
            + "Content-Length: 9\r\n\r\nsmuggled!"
        let text = appendHead(session, "Content-Length: 5\r\nContent-Length: \(5 + smuggled.utf8.count)\r\n")
            + "hello" + smuggled
        let (response, closed) = try refusal(text)
        assertError(response, 400, mentioning: ["Content-Length"])
        XCTAssertTrue(closed, "the connection ends: its framing cannot be trusted")
        XCTAssertEqual(try storedRecords(session), 0, "neither the body nor the smuggled request was stored")
    }

    func testContentLengthMustBePlainDigits() throws {
        let session = try api.newSession()
        for value in ["+5", "0x5", "-0", "5, 5", "5 5"] {
            let (response, closed) = try refusal(appendHead(session, "Content-Length: \(value)\r\n") + "hello")
            XCTAssertEqual(response.status, 400, "Content-Length: \(value.debugDescription): \(response)")
            XCTAssertTrue(closed)
        }
        XCTAssertEqual(try storedRecords(session), 0)
    }

    func testBadChunkedBodiesAre400Not413() throws {
        let session = try api.newSession()
        let bodies = ["0x5\r\nhello\r\n0\r\n\r\n", "+5\r\nhello\r\n0\r\n\r\n", "5\r\nhelloXX\r\n0\r\n\r\n", "5\nhello\r\n0\r\n\r\n"]
        for body in bodies {
            let (response, closed) = try refusal(appendHead(session, "Transfer-Encoding: chunked\r\n") + body)
            XCTAssertEqual(response.status, 400, "\(body.debugDescription): \(response)")
            XCTAssertTrue(closed)
        }
        let both = try refusal(appendHead(session, "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n") + "5\r\nhello\r\n0\r\n\r\n")
        XCTAssertEqual(both.response.status, 400, "Transfer-Encoding with Content-Length: \(both.response)")
        XCTAssertEqual(try storedRecords(session), 0)
    }

    func testTwoAuthorizationHeadersAreRefused() throws {
        let text = "GET /api/v1/sessions HTTP/1.1\r\nHost: relay\r\n\(auth)Authorization: Bearer someone-else\r\n\r\n"
        assertError(try refusal(text).response, 400, mentioning: ["Authorization"])
    }

    func testHTTP11WithoutHostIsRefused() throws {
        assertError(try refusal("GET /healthz HTTP/1.1\r\n\r\n").response, 400, mentioning: ["Host"])
        let http10 = try refusal("GET /healthz HTTP/1.0\r\n\r\n")
        XCTAssertEqual(http10.response.status, 200, "HTTP/1.0 has no Host requirement")
    }

    func testANULAfterTheKeyDoesNotAuthenticate() throws {
        let text = "GET /api/v1/sessions HTTP/1.1\r\nHost: relay\r\nAuthorization: Bearer \(TestEnvironments.devKey)\0garbage\r\n\r\n"
        let (response, closed) = try refusal(text)
        assertError(response, 400, mentioning: ["Control character"])
        XCTAssertTrue(closed)
    }

    func testPartIdsDifferingAfterANULAreRefusedNotDeduplicated() throws {
        let session = try api.newSession()
        for part in ["p\0one", "p\0two", "p\u{1}x", "p\u{7F}"] {
            let (response, _) = try refusal(appendHead(session, "X-Part-Id: \(part)\r\nContent-Length: 5\r\n") + "hello")
            XCTAssertEqual(response.status, 400, "X-Part-Id \(part.debugDescription): \(response)")
        }
        XCTAssertEqual(try storedRecords(session), 0, "a refused append stores nothing")
        XCTAssertEqual(try api.append(session, "in", "one", partId: "p-one").status, 200)
        XCTAssertEqual(try api.append(session, "in", "two", partId: "p-two").status, 200)
        XCTAssertEqual(try storedRecords(session), 2, "distinct part ids are distinct records")
    }

    func testControlBytesInAnyHeaderAreRefused() throws {
        let session = try api.newSession()
        for header in ["Origin: https://a.example\u{1}", "Last-Event-ID: 1\u{0}", "Timeout-Seconds: 5\u{7F}", "X-Anything: a\u{1B}[2J"] {
            let text = "GET \(RelayAPI.channelPath(session, "out"))/records HTTP/1.1\r\nHost: relay\r\n\(auth)\(header)\r\n\r\n"
            XCTAssertEqual(try refusal(text).response.status, 400, header.debugDescription)
        }
    }

    func testPipelinedRequestsAreAnsweredInOrderOnOneConnection() throws {
        let connection = try RawConnection(port: relay.port)
        defer { connection.close() }
        try connection.send("GET /healthz HTTP/1.1\r\nHost: relay\r\n\r\nGET /nope HTTP/1.1\r\nHost: relay\r\n\r\n"
            + "GET /healthz HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n")
        XCTAssertEqual(try connection.readResponse().status, 200)
        XCTAssertEqual(try connection.readResponse().status, 404)
        XCTAssertEqual(try connection.readResponse().status, 200)
        XCTAssertTrue(try connection.closedByServer())
    }

    /// Credentials and the route's body limit are checked when the head arrives: the answer
    /// comes before a single body byte was sent, and no 100 Continue invites the body.
    func testCredentialsAndBodyLimitsAreCheckedBeforeTheBodyIsRead() throws {
        let session = try api.newSession()
        let closePath = RelayAPI.sessionPath(session) + "/close"
        let cases: [(String, Int)] = [
            ("POST \(closePath) HTTP/1.1\r\nHost: relay\r\nContent-Length: 4194304\r\n\r\n", 401),
            ("POST \(closePath) HTTP/1.1\r\nHost: relay\r\nExpect: 100-continue\r\nContent-Length: 4194304\r\n\r\n", 401),
            ("POST \(closePath) HTTP/1.1\r\nHost: relay\r\n\(auth)Content-Length: 4194304\r\n\r\n", 413),
            ("POST /api/v1/sessions HTTP/1.1\r\nHost: relay\r\nAuthorization: Bearer not-a-key\r\nContent-Length: 30000\r\n\r\n", 401),
            ("POST /nope HTTP/1.1\r\nHost: relay\r\n\(auth)Content-Length: 4194304\r\n\r\n", 404),
        ]
        for (head, status) in cases {
            let connection = try RawConnection(port: relay.port)
            defer { connection.close() }
            try connection.send(head)
            let response = try connection.readResponse(timeout: 5)
            XCTAssertEqual(response.status, status, "\(head.prefix(60))…: \(response)")
            XCTAssertTrue(try connection.closedByServer(), "the unread body ends the connection")
        }
        XCTAssertEqual(try retrieveSession(session)["status"]?.stringValue, "ACTIVE", "nothing was closed")
    }

    /// 24 unauthenticated clients each push most of a declared 4 MiB body at a 1 KiB route.
    /// The relay answers 401 from the head and reads at most a bounded tail while it closes,
    /// so its memory barely moves (it held about 100 MiB before the fix).
    func testUnauthenticatedBodiesDoNotHoldMemory() throws {
        let pid = try XCTUnwrap(relay.pid)
        let session = try api.newSession()
        let before = try XCTUnwrap(residentBytes(pid: pid))
        let head = "POST \(RelayAPI.sessionPath(session))/close HTTP/1.1\r\nHost: relay\r\nContent-Length: 4194304\r\n\r\n"
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 256 * 1024)
        let port = relay.port
        let statuses = try concurrentMap(24) { _ -> Int in
            let connection = try RawConnection(port: port)
            defer { connection.close() }
            try connection.send(head)
            // Push the body until the relay stops taking it (it closes after a bounded drain).
            var sent = 0
            while sent < 4_000_000, (try? connection.send(chunk, timeout: 1)) != nil { sent += chunk.count }
            return (try? connection.readResponse(timeout: 5))?.status ?? -1
        }
        let after = try XCTUnwrap(residentBytes(pid: pid))
        XCTAssertTrue(statuses.allSatisfy { $0 == 401 || $0 == -1 }, "\(statuses)")
        XCTAssertTrue(statuses.contains(401), "at least the clients that read in time saw the 401: \(statuses)")
        XCTAssertLessThan(after - before, 16 << 20, "RSS grew from \(before >> 20) MiB to \(after >> 20) MiB")
        XCTAssertEqual(try http.request("GET", "/healthz").status, 200)
    }
}
