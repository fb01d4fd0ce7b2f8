// JSONParserTests.swift — strict parsing and validation: accepted and rejected documents.

import XCTest
@testable import RelayCore

final class JSONParserTests: XCTestCase {
    /// Both drivers (tree builder and validator) must agree on every input.
    private func assertValid(_ s: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNoThrow(try JSONParser.parse(bytes(s)), s, file: file, line: line)
        XCTAssertTrue(JSONParser.isValid(bytes(s)), s, file: file, line: line)
    }

    private func assertInvalid(_ b: [UInt8], _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try JSONParser.parse(b), label, file: file, line: line)
        XCTAssertFalse(JSONParser.isValid(b), label, file: file, line: line)
        XCTAssertFalse(b.withUnsafeBytes { JSONParser.isValid($0) }, label, file: file, line: line)
    }

    private func assertInvalid(_ s: String, file: StaticString = #filePath, line: UInt = #line) {
        assertInvalid(bytes(s), s, file: file, line: line)
    }

    func testParsesScalarsAndKeepsNumberText() throws {
        XCTAssertEqual(try JSONParser.parse("null"), .null)
        XCTAssertEqual(try JSONParser.parse(" true "), .bool(true))
        XCTAssertEqual(try JSONParser.parse("false"), .bool(false))
        XCTAssertEqual(try JSONParser.parse("1.50e3"), .number("1.50e3"))
        XCTAssertEqual(try JSONParser.parse("-0"), .number("-0"))
        XCTAssertEqual(try JSONParser.parse("1e5"), .number("1e5"))
        XCTAssertEqual(try JSONParser.parse("-12.5E-3"), .number("-12.5E-3"))
        XCTAssertEqual(try JSONParser.parse("\"hi\""), .string("hi"))
    }

    func testParsesContainersInOrder() throws {
        let v = try JSONParser.parse(#"{"b":[1,{"c":null}],"a":"x","b":2}"#)
        guard case .object(let members) = v else { return XCTFail("not an object") }
        XCTAssertEqual(members.map(\.key), ["b", "a", "b"])
        XCTAssertEqual(v["b"], .number("2"), "duplicate keys: last wins")
        XCTAssertEqual(v["a"]?.stringValue, "x")
        XCTAssertNil(v["zzz"])
        XCTAssertNil(JSONValue.array([])["a"])
        XCTAssertEqual(try JSONParser.parse(" [ ] "), .array([]))
        XCTAssertEqual(try JSONParser.parse("{ }"), .object([]))
    }

    func testDecodesEscapesAndSurrogatePairs() throws {
        let v = try JSONParser.parse(#""a\"b\\c\/d\b\f\n\r\t\u0041\u00e9\ud83d\ude00""#)
        XCTAssertEqual(v.stringValue, "a\"b\\c/d\u{8}\u{c}\n\r\tA\u{e9}\u{1F600}")
        XCTAssertEqual(try JSONParser.parse("\"h\u{e9}llo \u{1F600}\"").stringValue, "h\u{e9}llo \u{1F600}")
    }

    func testAcceptsValidDocuments() {
        for s in ["0", "-0", "1e5", "1E+5", "0.5", "-0.0e-0", "[]", "{}", #"{"a":{"b":[true,false,null]}}"#,
                  "\t\n\r [1 , 2]\n", #""\u0000""#, #"{"":""}"#, "\"\u{7F}\""] {
            assertValid(s)
        }
    }

    func testRejectsInvalidDocuments() {
        for s in ["", " ", "01", "-", "+1", "1.", ".5", "1e", "1e+", "0x10", "NaN", "Infinity", "tru", "nul", "True",
                  "[1,]", "{\"a\":1,}", "[,1]", "{,}", "{\"a\"}", "{\"a\" 1}", "{a:1}", "['a']", "[1 2]",
                  "[", "]", "{", "\"abc", "1 2", "{} x", "[1]]", "\"\\x\"", "\"\\u12\"", "\"\\u12G4\"", "\"\\\"",
                  "\"a\u{0001}b\"", "\"tab\there\"", "\u{FEFF}1", "1\u{0000}", "//c\n1"] {
            assertInvalid(s)
        }
    }

    func testRejectsLoneSurrogates() {
        assertInvalid(#""\ud800""#)
        assertInvalid(#""\ud800x""#)
        assertInvalid(#""\ud800\u0041""#)
        assertInvalid(#""\udc00""#)
        assertInvalid(#""\ude00\ud83d""#)
        assertValid(#""\ud83d\ude00""#)
    }

    func testRejectsInvalidUTF8() {
        let cases: [[UInt8]] = [
            [0x22, 0xFF, 0x22],                   // never valid
            [0x22, 0xC0, 0xAF, 0x22],             // overlong '/'
            [0x22, 0xE0, 0x80, 0xAF, 0x22],       // overlong 3-byte
            [0x22, 0xED, 0xA0, 0x80, 0x22],       // encoded surrogate
            [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], // above U+10FFFF
            [0x22, 0xC3, 0x22],                   // truncated
            [0x22, 0x80, 0x22],                   // lone continuation
            [0xC3, 0xA9],                         // non-ASCII outside a string
        ]
        for c in cases { assertInvalid(c, "\(c)") }
        assertValid("\"\u{10FFFF}\u{E000}\u{FFFD}\"")
    }

    func testDepthLimit() {
        let ok = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        assertValid(ok)
        let deep = String(repeating: "[", count: 513) + String(repeating: "]", count: 513)
        assertInvalid(deep)
        let deepObjects = String(repeating: #"{"a":"#, count: 513) + "1" + String(repeating: "}", count: 513)
        assertInvalid(deepObjects)
        let okObjects = String(repeating: #"{"a":"#, count: 512) + "1" + String(repeating: "}", count: 512)
        assertValid(okObjects)
        // Huge nesting must fail cleanly, not overflow the stack.
        assertInvalid(String(repeating: "[", count: 100_000))
    }

    func testErrorCarriesOffset() {
        XCTAssertThrowsError(try JSONParser.parse("[1,]")) { error in
            XCTAssertEqual((error as? JSONParseError)?.offset, 3)
        }
        XCTAssertThrowsError(try JSONParser.parse("{} x")) { error in
            XCTAssertEqual((error as? JSONParseError)?.offset, 3)
        }
    }

    func testValidatorHandlesLargeBody() {
        var big = bytes("[")
        for i in 0..<20_000 {
            if i > 0 { big.append(0x2C) }
            big += bytes(#"{"type":"text","text":"h\u00e9llo \"w\" \#(i)","n":-1.5e3}"#)
        }
        big += bytes("]")
        XCTAssertGreaterThan(big.count, 1_000_000)
        XCTAssertTrue(JSONParser.isValid(big))
        big[big.count - 1] = 0x7D
        XCTAssertFalse(JSONParser.isValid(big))
    }

    func testAccessors() throws {
        let v = try JSONParser.parse(#"{"i":42,"f":2.0,"x":1.5,"s":"t","n":null,"b":true}"#)
        XCTAssertEqual(v["i"]?.int64Value, 42)
        XCTAssertEqual(v["f"]?.int64Value, 2)
        XCTAssertNil(v["x"]?.int64Value)
        XCTAssertEqual(v["x"]?.doubleValue, 1.5)
        XCTAssertEqual(v["s"]?.stringValue, "t")
        XCTAssertNil(v["i"]?.stringValue)
        XCTAssertTrue(v["n"]!.isNull)
        XCTAssertFalse(v["s"]!.isNull)
        XCTAssertEqual(v["b"]?.boolValue, true)
    }
}
