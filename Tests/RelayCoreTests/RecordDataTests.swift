// RecordDataTests.swift — how an append body becomes a record's `data`: JSON as itself,
// anything else as a string, and valid JSON nested past the depth limit refused.

import XCTest
@testable import RelayCore

final class RecordDataTests: XCTestCase {
    private func nested(_ depth: Int, open: String = "[", close: String = "]") -> [UInt8] {
        bytes(String(repeating: open, count: depth) + String(repeating: close, count: depth))
    }

    func testValidityTellsTooDeepFromInvalid() {
        XCTAssertEqual(JSONParser.validity(nested(512)), .valid)
        XCTAssertEqual(JSONParser.validity(nested(513)), .tooDeep)
        XCTAssertEqual(JSONParser.validity(nested(100_000)), .tooDeep, "deep input costs no call stack")
        let objects = bytes(String(repeating: #"{"a":"#, count: 600) + "1" + String(repeating: "}", count: 600))
        XCTAssertEqual(JSONParser.validity(objects), .tooDeep)
        XCTAssertEqual(JSONParser.validity(bytes(String(repeating: "[", count: 600))), .invalid, "unclosed: not JSON")
        XCTAssertEqual(JSONParser.validity(bytes(String(repeating: "[", count: 600) + "]")), .invalid)
        XCTAssertFalse(JSONParser.isValid(nested(513)), "isValid keeps meaning valid within the limit")
    }

    func testJSONBodyIsStoredAsItself() throws {
        XCTAssertEqual(text(try RecordData.json(forBody: bytes(#"{"a":[1,2]}"#))), #"{"a":[1,2]}"#)
        XCTAssertEqual(text(try RecordData.json(forBody: nested(512))), text(nested(512)))
        XCTAssertEqual(text(try RecordData.json(forBody: bytes("{\n\"a\":1\r\n}"))), "{ \"a\":1  }")
    }

    func testOtherBodiesAreStoredAsStrings() throws {
        XCTAssertEqual(text(try RecordData.json(forBody: bytes("hello"))), #""hello""#)
        let unclosed = String(repeating: "[", count: 600)
        XCTAssertEqual(text(try RecordData.json(forBody: bytes(unclosed))), "\"\(unclosed)\"")
    }

    func testTooDeepJSONIsA400() {
        assertAPIError(400, "nested deeper than 512 levels") { try RecordData.json(forBody: nested(513)) }
        assertAPIError(400, "nested deeper than 512 levels") {
            try RecordData.json(forBody: bytes(#"{"x":"# + text(nested(600)) + "}"))
        }
    }
}
