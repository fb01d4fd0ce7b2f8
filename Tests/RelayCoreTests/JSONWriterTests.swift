// JSONWriterTests.swift — serialization, quoting and JSONObjectWriter.

import XCTest
@testable import RelayCore

final class JSONWriterTests: XCTestCase {
    func testSerializeIsCompactAndRoundTrips() throws {
        let source = #" { "a" : [ 1.50e3 , -0 , true , null ] , "b" : { "c" : "x\"y\n\u0001é😀" } , "a" : 2 } "#
        let v = try JSONParser.parse(source)
        let text = v.serialized()
        XCTAssertEqual(text, #"{"a":[1.50e3,-0,true,null],"b":{"c":"x\"y\n\u0001é😀"},"a":2}"#)
        XCTAssertEqual(try JSONParser.parse(text), v)
    }

    func testJSONQuoted() {
        XCTAssertEqual(jsonQuoted("plain"), #""plain""#)
        XCTAssertEqual(jsonQuoted("a\"b\\c"), #""a\"b\\c""#)
        XCTAssertEqual(jsonQuoted("\n\r\t\u{8}\u{c}"), #""\n\r\t\b\f""#)
        XCTAssertEqual(jsonQuoted("\u{0}\u{1f}"), #""\u0000\u001f""#)
        XCTAssertEqual(jsonQuoted("é😀/"), "\"é😀/\"")
        XCTAssertEqual(try JSONParser.parse(jsonQuoted("x\u{1}\"\\y")).stringValue, "x\u{1}\"\\y")
    }

    func testObjectWriter() throws {
        var w = JSONObjectWriter()
        w.string("id", "x\"")
        w.optionalString("externalId", nil)
        w.optionalString("name", "n")
        w.int("seq", 3)
        w.int("big", Int64(-9_000_000_000))
        w.int("u", UInt64.max)
        w.bool("ok", true)
        w.bool("no", false)
        w.raw("metadata", #"{"k":[1]}"#)
        w.null("x")
        w.stringArray("tags", ["a", "b\n"])
        w.stringArray("none", [])
        let text = w.finish()
        XCTAssertEqual(text, #"{"id":"x\"","externalId":null,"name":"n","seq":3,"big":-9000000000,"u":18446744073709551615,"ok":true,"no":false,"metadata":{"k":[1]},"x":null,"tags":["a","b\n"],"none":[]}"#)
        XCTAssertTrue(JSONParser.isValid(bytes(text)))
        var empty = JSONObjectWriter()
        XCTAssertEqual(empty.finish(), "{}")
    }
}
