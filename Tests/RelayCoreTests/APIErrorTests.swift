// APIErrorTests.swift — server-side failures keep their cause out of the message.

import XCTest
@testable import RelayCore

final class APIErrorTests: XCTestCase {
    func testInternalErrorsSendAGenericMessageAndKeepTheCauseAsDetail() {
        let e = APIError.internalError("Redis error: WRONGTYPE Operation against a key")
        XCTAssertEqual(e.status, 500)
        XCTAssertEqual(e.message, "Internal error")
        XCTAssertEqual(e.detail, "Redis error: WRONGTYPE Operation against a key")
        XCTAssertEqual(e.bodyJSON, #"{"error":"Internal error"}"#)
        XCTAssertEqual(asAPIError(JSONParseError(offset: 3, message: "x")).message, "Internal error")
        XCTAssertNotNil(asAPIError(JSONParseError(offset: 3, message: "x")).detail)
    }

    func testClientErrorsHaveNoDetail() {
        XCTAssertNil(APIError.badRequest("x").detail)
        XCTAssertEqual(APIError.serviceUnavailable("try again", detail: "OOM").bodyJSON, #"{"error":"try again"}"#)
    }

    func testRequestIds() {
        let id = FriendlyID.request()
        XCTAssertTrue(id.hasPrefix("req_"))
        XCTAssertEqual(id.count, 29)
        XCTAssertNotEqual(id, FriendlyID.request())
    }
}
