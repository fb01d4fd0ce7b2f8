// ChannelParamsTests.swift — query strings, SSE/drain parameters and control bodies.

import XCTest
@testable import RelayCore

final class ChannelParamsTests: XCTestCase {
    func testQueryString() {
        let pairs = QueryString.parse("a=1&b=x+y%20z&&c&d=e=f&token=ab%2Ecd&bad=%zz%4&u=%C3%A9")
        XCTAssertEqual(pairs.map(\.0), ["a", "b", "c", "d", "token", "bad", "u"])
        XCTAssertEqual(pairs.map(\.1), ["1", "x y z", "", "e=f", "ab.cd", "%zz%4", "é"])
        XCTAssertTrue(QueryString.parse("").isEmpty)
        XCTAssertEqual(QueryString.parse("filter%5Btype%5D=a%2Cb").first?.0, "filter[type]")
    }

    func testTimeoutSeconds() throws {
        XCTAssertEqual(try ChannelParams.timeoutSeconds(header: nil, query: nil), 60)
        XCTAssertEqual(try ChannelParams.timeoutSeconds(header: "1", query: nil), 1)
        XCTAssertEqual(try ChannelParams.timeoutSeconds(header: "600", query: nil), 600)
        XCTAssertEqual(try ChannelParams.timeoutSeconds(header: nil, query: "30"), 30)
        XCTAssertEqual(try ChannelParams.timeoutSeconds(header: "5", query: "abc"), 5, "header wins")
        for bad in ["0", "601", "-1", "1.5", "", "ten", "+5", "99999999999999999999999"] {
            assertAPIError(400, "Timeout-Seconds must be an integer from 1 to 600") {
                try ChannelParams.timeoutSeconds(header: bad, query: nil)
            }
        }
        assertAPIError(400, "Timeout-Seconds") { try ChannelParams.timeoutSeconds(header: nil, query: "0") }
    }

    func testLastEventId() throws {
        XCTAssertNil(try ChannelParams.lastEventId(header: nil, query: nil))
        XCTAssertEqual(try ChannelParams.lastEventId(header: "0", query: nil), 0)
        XCTAssertEqual(try ChannelParams.lastEventId(header: "42", query: "7"), 42)
        XCTAssertEqual(try ChannelParams.lastEventId(header: nil, query: "7"), 7)
        XCTAssertEqual(try ChannelParams.lastEventId(header: "18446744073709551615", query: nil), UInt64.max)
        for bad in ["-1", "x", "", "1e3", "18446744073709551616", "3:4"] {
            assertAPIError(400, "Last-Event-ID") { try ChannelParams.lastEventId(header: bad, query: nil) }
        }
    }

    func testDrain() throws {
        let d = try ChannelParams.drain(afterEventId: nil, limit: nil)
        XCTAssertEqual(d.after, 0)
        XCTAssertEqual(d.limit, 1000)
        let e = try ChannelParams.drain(afterEventId: "17", limit: "1")
        XCTAssertEqual(e.after, 17)
        XCTAssertEqual(e.limit, 1)
        XCTAssertEqual(try ChannelParams.drain(afterEventId: "0", limit: "1000").limit, 1000)
        assertAPIError(400, "afterEventId") { try ChannelParams.drain(afterEventId: "-1", limit: nil) }
        assertAPIError(400, "limit") { try ChannelParams.drain(afterEventId: nil, limit: "0") }
        assertAPIError(400, "limit") { try ChannelParams.drain(afterEventId: nil, limit: "1001") }
        assertAPIError(400, "limit") { try ChannelParams.drain(afterEventId: nil, limit: "") }
    }

    func testControlRequest() throws {
        let c = try ControlRequest.parse(bytes(#"{"subtype":"turn-complete","headers":{"b":"2","a":"1"}}"#))
        XCTAssertEqual(c.subtype, "turn-complete")
        XCTAssertEqual(c.headers.map(\.0), ["b", "a"])
        XCTAssertEqual(c.headers.map(\.1), ["2", "1"])
        XCTAssertEqual(c, ControlRequest(subtype: "turn-complete", headers: [("b", "2"), ("a", "1")]))
        XCTAssertNotEqual(c, ControlRequest(subtype: "turn-complete", headers: [("a", "1"), ("b", "2")]))
        XCTAssertEqual(try ControlRequest.parse(bytes(#"{"subtype":"x"}"#)), ControlRequest(subtype: "x"))
        assertAPIError(400, "subtype is required") { try ControlRequest.parse(bytes(#"{"headers":{}}"#)) }
        assertAPIError(400, "subtype must be a non-empty string") { try ControlRequest.parse(bytes(#"{"subtype":""}"#)) }
        assertAPIError(400, "subtype must be a non-empty string") { try ControlRequest.parse(bytes(#"{"subtype":1}"#)) }
        assertAPIError(400, "headers.a must be a string") { try ControlRequest.parse(bytes(#"{"subtype":"x","headers":{"a":1}}"#)) }
        assertAPIError(400, "headers must be an object") { try ControlRequest.parse(bytes(#"{"subtype":"x","headers":[]}"#)) }
        assertAPIError(400, "Malformed JSON body") { try ControlRequest.parse([]) }
    }

    func testChannelIO() {
        XCTAssertEqual(ChannelIO(rawValue: "in"), .input)
        XCTAssertEqual(ChannelIO(rawValue: "out"), .output)
        XCTAssertNil(ChannelIO(rawValue: "sideways"))
    }

    func testAPIErrorBody() {
        XCTAssertEqual(APIError.badRequest("say \"hi\"").bodyJSON, #"{"error":"say \"hi\""}"#)
        XCTAssertEqual(APIError.notFound("x").status, 404)
        XCTAssertEqual(APIError.unauthorized("x").status, 401)
        XCTAssertEqual(APIError.forbidden("x").status, 403)
        XCTAssertEqual(APIError.methodNotAllowed("x").status, 405)
        XCTAssertEqual(APIError.conflict("x").status, 409)
        XCTAssertEqual(APIError.payloadTooLarge("x").status, 413)
        XCTAssertEqual(APIError.unprocessable("x").status, 422)
        XCTAssertEqual(APIError.internalError("x").status, 500)
        XCTAssertEqual(APIError.serviceUnavailable("x").status, 503)
    }
}

final class ResumePointTests: XCTestCase {
    func testResumePoints() throws {
        XCTAssertEqual(try ChannelParams.resumePoint(header: nil, query: nil), .beginning)
        XCTAssertEqual(try ChannelParams.resumePoint(header: "7", query: "9"), .after(7), "the header wins")
        XCTAssertEqual(try ChannelParams.resumePoint(header: nil, query: "latest"), .latest)
        XCTAssertEqual(try ChannelParams.resumePoint(header: "latest", query: nil), .latest)
        for bad in ["Latest", "-1", "1.5", "latest ", ""] {
            XCTAssertThrowsError(try ChannelParams.resumePoint(header: bad, query: nil), bad)
        }
    }

    func testRetryFrame() {
        XCTAssertEqual(String(decoding: SSEFrame.retry(milliseconds: 1000), as: UTF8.self), "retry: 1000\n\n")
    }
}
