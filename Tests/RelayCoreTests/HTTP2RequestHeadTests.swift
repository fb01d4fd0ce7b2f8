// HTTP2RequestHeadTests: HTTPRequestHead.fromHTTP2, the head of an HTTP/2 request checked by the
// HTTP/1.1 parser's rules wherever they apply (RFC 9113 section 8.3), one test per rule, with the
// byte-level traps the HTTP/1.1 tests cover (combining marks, KELVIN SIGN, invalid UTF-8).
import XCTest
@testable import RelayWire

final class HTTP2RequestHeadTests: XCTestCase {
    private typealias Fields = [(name: [UInt8], value: [UInt8])]

    private static let pseudo: [(String, String)] = [
        (":method", "GET"), (":scheme", "https"), (":path", "/api/v1/sessions/s1/events?after=3"), (":authority", "relay"),
    ]

    private func fields(_ pairs: [(String, String)]) -> Fields { pairs.map { (Array($0.0.utf8), Array($0.1.utf8)) } }

    /// The usual pseudo-header fields (`replacing` some by name, or leaving one out with a nil
    /// value), then `regular`.
    private func request(_ regular: [(String, String)] = [], replacing: [String: String?] = [:]) -> Fields {
        var pairs: [(String, String)] = []
        for (name, value) in Self.pseudo {
            if let replacement = replacing[name] {
                if let replacement { pairs.append((name, replacement)) }
            } else {
                pairs.append((name, value))
            }
        }
        return fields(pairs + regular)
    }

    private func head(_ fields: Fields, endStream: Bool = true) throws -> HTTPRequestHead {
        try HTTPRequestHead.fromHTTP2(fields, endStream: endStream)
    }

    private func assertRefused(_ fields: Fields, endStream: Bool = true, _ status: Int, _ message: String,
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try head(fields, endStream: endStream), file: file, line: line) { error in
            guard let error = error as? HTTPHeadError else { return XCTFail("\(error)", file: file, line: line) }
            XCTAssertEqual(error.status, status, error.message, file: file, line: line)
            XCTAssertEqual(error.message, message, file: file, line: line)
        }
    }

    private func assertFields(_ head: HTTPRequestHead, _ expected: [(String, String)], file: StaticString = #filePath, line: UInt = #line) {
        // Compared as UTF-8 bytes: String == is canonical equivalence.
        XCTAssertEqual(head.fields.map { Array($0.name.utf8) }, expected.map { Array($0.0.utf8) }, file: file, line: line)
        XCTAssertEqual(head.fields.map { Array($0.value.utf8) }, expected.map { Array($0.1.utf8) }, file: file, line: line)
    }

    // MARK: Accepted heads

    func testAnOrdinaryRequest() throws {
        let head = try self.head(request([("accept", "text/event-stream"), ("last-event-id", "42")]))
        XCTAssertEqual(head.method, "GET")
        XCTAssertEqual(head.path, "/api/v1/sessions/s1/events")
        XCTAssertEqual(head.query, "after=3")
        XCTAssertEqual(head.majorVersion, 2)
        XCTAssertEqual(head.minorVersion, 1, "HTTP/2 has HTTP/1.1's semantics")
        XCTAssertEqual(head.framing, .none)
        XCTAssertTrue(head.keepAlive)
        XCTAssertFalse(head.expectsContinue)
        assertFields(head, [("host", "relay"), ("accept", "text/event-stream"), ("last-event-id", "42")])
        XCTAssertEqual(head.value("host"), "relay", ":authority stands for Host")
    }

    func testFramingFollowsEndStreamAndContentLength() throws {
        XCTAssertEqual(try head(request(replacing: [":method": "POST"]), endStream: false).framing, .streamed,
                       "no Content-Length: the body is whatever DATA frames arrive")
        XCTAssertEqual(try head(request([("content-length", "12")]), endStream: false).framing, .length(12))
        XCTAssertEqual(try head(request([("content-length", "0")]), endStream: false).framing, .length(0))
        XCTAssertEqual(try head(request([("content-length", "0")]), endStream: true).framing, .none)
        XCTAssertEqual(try head(request([("content-length", "000")]), endStream: true).framing, .none)
        XCTAssertEqual(try head(request(), endStream: true).framing, .none)
        assertRefused(request([("content-length", "5")]), endStream: true, 400, "Content-Length without a body")
        assertRefused(request([("content-length", "5"), ("content-length", "5")]), endStream: false, 400,
                      "Duplicate Content-Length header")
    }

    func testContentLengthIsPlainDecimal() throws {
        // "\u{0665}" is ARABIC-INDIC DIGIT FIVE: a digit to Character.isNumber, not to a byte reader.
        for bad in ["+5", "-1", "0x5", "5 5", "", "1e3", "5,5", "1234567890123456", "99999999999999999999", "\u{0665}", "5\u{301}"] {
            assertRefused(request([("content-length", bad)]), endStream: false, 400, "Content-Length must be a plain decimal number")
        }
        XCTAssertEqual(try head(request([("content-length", "123456789012345")]), endStream: false).framing,
                       .length(123_456_789_012_345), "15 digits is the most")
        assertRefused(request([("content-length", " 5")]), endStream: false, 400, "Whitespace around a header value")
    }

    func testAsteriskFormIsForOptionsOnly() throws {
        let head = try self.head(request(replacing: [":method": "OPTIONS", ":path": "*"]))
        XCTAssertEqual(head.path, "*")
        XCTAssertNil(head.query)
        assertRefused(request(replacing: [":path": "*"]), 400, "Malformed request target")
    }

    func testQuerySplitting() throws {
        let empty = try head(request(replacing: [":path": "/a?"]))
        XCTAssertEqual(empty.path, "/a")
        XCTAssertEqual(empty.query, "")
        let two = try head(request(replacing: [":path": "/a?b=1?c"]))
        XCTAssertEqual(two.path, "/a")
        XCTAssertEqual(two.query, "b=1?c")
        let none = try head(request(replacing: [":path": "//x/%2F"]))
        XCTAssertEqual(none.path, "//x/%2F")
        XCTAssertNil(none.query)
    }

    func testOptionalPseudoAndRegularFieldsKeepTheirOrder() throws {
        let noAuthority = try head(request([("accept", "a"), ("accept", "b")], replacing: [":authority": nil]))
        assertFields(noAuthority, [("accept", "a"), ("accept", "b")])
        XCTAssertNil(noAuthority.value("host"), "HTTP/2 may leave both :authority and Host out")
        let http = try head(request(replacing: [":scheme": "http"]))
        XCTAssertEqual(http.path, "/api/v1/sessions/s1/events")
        // Pseudo-header fields in any order among themselves.
        let reordered = try head(fields([(":path", "/x"), (":authority", "a"), (":scheme", "http"), (":method", "DELETE")]))
        XCTAssertEqual(reordered.method, "DELETE")
        XCTAssertEqual(reordered.path, "/x")
    }

    func testNonASCIIAndInvalidUTF8ValuesAreKeptAsDecoded() throws {
        var fields = request([("x-note", "tab\there, and \u{E9}")])
        fields.append((Array("x-raw".utf8), [0x61, 0xFF, 0x62]))
        let head = try self.head(fields)
        assertFields(head, [("host", "relay"), ("x-note", "tab\there, and \u{E9}"), ("x-raw", "a\u{FFFD}b")])
    }

    // MARK: Pseudo-header fields

    func testRequiredPseudoHeaderFields() {
        assertRefused(request(replacing: [":method": nil]), 400, "Missing :method")
        assertRefused(request(replacing: [":scheme": nil]), 400, "Missing or unsupported :scheme")
        assertRefused(request(replacing: [":path": nil]), 400, "Missing :path")
    }

    func testSchemeIsHTTPOrHTTPSByteForByte() {
        for bad in ["ftp", "HTTP", "Https", "", "http\u{301}", "https:", "ws"] {
            assertRefused(request(replacing: [":scheme": bad]), 400, "Missing or unsupported :scheme")
        }
    }

    func testDuplicatePseudoHeaderFields() {
        assertRefused(request([]) + fields([(":method", "GET")]), 400, "Duplicate :method")
        assertRefused(request([]) + fields([(":scheme", "https")]), 400, "Duplicate :scheme")
        assertRefused(request([]) + fields([(":path", "/")]), 400, "Duplicate :path")
        assertRefused(request([]) + fields([(":authority", "relay")]), 400, "Duplicate :authority")
    }

    func testUnknownPseudoHeaderFields() {
        for name in [":protocol", ":status", ":", ":Method", ":METHOD", ":method ", ":path\u{301}"] {
            assertRefused(request([]) + fields([(name, "x")]), 400, "Unknown pseudo-header field")
        }
    }

    func testNoPseudoHeaderFieldAfterARegularField() {
        assertRefused(fields([(":method", "GET"), (":scheme", "https"), ("accept", "*/*"), (":path", "/")]), 400,
                      "Pseudo-header field after a regular field")
    }

    func testMethodIsAToken() {
        for bad in ["", "G@T", "GET ", "GE T", "G\u{C9}T", "GET/"] {
            assertRefused(request(replacing: [":method": bad]), 400, "Malformed method")
        }
    }

    func testConnectIsRefusedWith405() {
        assertRefused(fields([(":method", "CONNECT"), (":authority", "relay:443")]), endStream: false, 405, "CONNECT is not supported")
        assertRefused(request(replacing: [":method": "CONNECT"]), 405, "CONNECT is not supported")
    }

    func testPathIsOriginFormInVisibleASCII() {
        for bad in ["", "relative", "http://relay/x", "/a b", "/a\u{7F}", "/\u{E9}", "?x"] {
            let expected = bad == "/a\u{7F}" ? "Control character in a header value" : "Malformed request target"
            assertRefused(request(replacing: [":path": bad]), 400, expected)
        }
    }

    // MARK: Regular fields

    func testFieldNamesAreLowercaseTokens() {
        for bad in ["X-Part-Id", "Accept", "x part", "x:y", "\u{E9}", "x\u{212A}", "accept\u{301}", "x\0"] {
            assertRefused(request([(bad, "v")]), 400, "Malformed header field name")
        }
        assertRefused(request() + [([], Array("v".utf8))], 400, "Malformed header field name")
    }

    func testConnectionSpecificFieldsAreRefused() {
        for name in ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"] {
            assertRefused(request([(name, "x")]), 400, "Connection-specific header field in an HTTP/2 request")
        }
        // KELVIN SIGN is not a token byte: "\u{212A}eep-alive" is not a way around the rule.
        assertRefused(request([("\u{212A}eep-alive", "x")]), 400, "Malformed header field name")
    }

    func testTEIsOnlyTrailers() throws {
        XCTAssertEqual(try head(request([("te", "trailers")])).value("te"), "trailers")
        for bad in ["gzip", "Trailers", "trailers, deflate", "", "trailers\u{301}", "chunked"] {
            assertRefused(request([("te", bad)]), 400, "TE other than trailers")
        }
    }

    func testControlBytesInValuesAreRefused() {
        for byte: UInt8 in [0x00, 0x01, 0x0A, 0x0B, 0x0D, 0x1F, 0x7F] {
            var regular = request()
            regular.append((Array("authorization".utf8), Array("Bearer key".utf8) + [byte] + Array("garbage".utf8)))
            assertRefused(regular, 400, "Control character in a header value")
            // Pseudo-header values too.
            assertRefused(request(replacing: [":authority": "relay" + String(UnicodeScalar(byte))]), 400,
                          "Control character in a header value")
        }
    }

    func testNoWhitespaceAroundValues() throws {
        for bad in [" v", "v ", "\tv", "v\t", " ", "\t"] {
            assertRefused(request([("x-part-id", bad)]), 400, "Whitespace around a header value")
        }
        XCTAssertEqual(try head(request([("x-part-id", "a b\tc")])).value("x-part-id"), "a b\tc", "inner whitespace is fine")
        XCTAssertEqual(try head(request([("x-empty", "")])).value("x-empty"), "", "an empty value is fine")
    }

    func testSingletonFieldsAppearOnce() throws {
        for name in HTTPRequestHead.singletonFields.sorted() where name != "transfer-encoding" {
            let value = name == "content-length" ? "0" : name == "expect" ? "100-continue" : "v"
            XCTAssertNoThrow(try head(request([(name, value)], replacing: [":authority": nil])), name)
            assertRefused(request([(name, value), (name, value)], replacing: [":authority": nil]), 400,
                          "Duplicate \(HTTPRequestHead.canonicalName(name)) header")
        }
        assertFields(try head(request([("accept", "a"), ("accept", "b")])), [("host", "relay"), ("accept", "a"), ("accept", "b")])
    }

    func testFieldCountIsBounded() throws {
        let filler = (0..<HTTPRequestHead.maxFieldCount).map { ("x-f\($0)", "v") }
        // 100 regular fields, no :authority.
        XCTAssertEqual(try head(request(filler, replacing: [":authority": nil])).fields.count, 100)
        assertRefused(request(filler + [("x-one-more", "v")], replacing: [":authority": nil]), 431, "Too many header fields")
        // :authority becomes a Host field: 99 others and :authority make the 100 HTTP/1.1 allows.
        XCTAssertEqual(try head(request(Array(filler.dropLast()))).fields.count, 100)
        assertRefused(request(filler + [("x-one-more", "v"), ("x-two-more", "v"), ("x-three", "v"), ("x-four", "v")]), 431,
                      "Too many header fields")
    }

    /// Found while writing Fuzz/fuzz_http2: with :authority and 100 regular fields the head had
    /// 101 fields (Host inserted after the count check), which HTTP/1.1 refuses with 431.
    func testAuthorityCountsAsAField() {
        let filler = (0..<HTTPRequestHead.maxFieldCount).map { ("x-f\($0)", "v") }
        assertRefused(request(filler), 431, "Too many header fields")
        XCTAssertThrowsError(try HTTPRequestHead.parse(Array(("GET / HTTP/1.1\r\nHost: relay\r\n"
            + filler.map { "\($0.0): \($0.1)\r\n" }.joined()).utf8)), "the same request over HTTP/1.1")
    }

    // MARK: Host and :authority

    func testHostAndAuthority() throws {
        assertFields(try head(request([("accept", "a"), ("host", "relay")])), [("accept", "a"), ("host", "relay")])
        assertFields(try head(request([("host", "other")], replacing: [":authority": nil])), [("host", "other")])
        assertRefused(request([("host", "other")]), 400, "Host and :authority disagree")
        assertRefused(request([("host", "Relay")]), 400, "Host and :authority disagree")
    }

    /// Found while writing Fuzz/fuzz_http2: Host and :authority were compared as Strings
    /// (Unicode canonical equivalence, and invalid UTF-8 decoded to U+FFFD first), so two
    /// different byte strings "agreed": a proxy routing on :authority and the relay reading Host
    /// would see different hosts.
    func testHostAndAuthorityAreComparedAsBytes() throws {
        // KELVIN SIGN is canonically equivalent to "K".
        assertRefused(request([("host", "K.example")], replacing: [":authority": "\u{212A}.example"]), 400, "Host and :authority disagree")
        // Precomposed and decomposed e-acute.
        assertRefused(request([("host", "e\u{301}")], replacing: [":authority": "\u{E9}"]), 400, "Host and :authority disagree")
        // Invalid UTF-8: both bytes decode to U+FFFD.
        var invalid = request(replacing: [":authority": nil])
        invalid.insert((Array(":authority".utf8), [0x61, 0xFF]), at: 3)
        invalid.append((Array("host".utf8), [0x61, 0xFE]))
        assertRefused(invalid, 400, "Host and :authority disagree")
        // Byte-identical non-ASCII hosts agree.
        assertFields(try head(request([("host", "\u{E9}")], replacing: [":authority": "\u{E9}"])), [("host", "\u{E9}")])
    }

    func testHostSyntax() {
        for bad in ["", "a b", "a\tb", "a/b", "user@relay", "relay/", "a "] {
            assertRefused(request(replacing: [":authority": bad]), 400, "Malformed Host header")
            if bad != "a " {
                assertRefused(request([("host", bad)], replacing: [":authority": nil]), 400, "Malformed Host header")
            }
        }
    }

    /// As in HostCheckBeforeCombiningMarkTests: SP, HT, '/' or '@' followed by a combining mark is
    /// one Character, so the Host check must read bytes (for :authority and for Host).
    func testHostSeparatorFollowedByCombiningMarkIsRefused() {
        for bad in ["a/\u{301}", "a/\u{301}b", "user@\u{301}host", "a\t\u{301}b", "a \u{301}b"] {
            assertRefused(request(replacing: [":authority": bad]), 400, "Malformed Host header")
            assertRefused(request([("host", bad)], replacing: [":authority": nil]), 400, "Malformed Host header")
        }
    }

    // MARK: Expect

    func testExpectations() throws {
        let head = try self.head(request([("expect", "100-Continue"), ("content-length", "3")]), endStream: false)
        XCTAssertFalse(head.expectsContinue, "the HTTP/2 stream reads the Expect field itself")
        XCTAssertEqual(head.value("expect"), "100-Continue")
        for bad in ["something", "100-continu\u{E9}", "100-continue\u{301}", "100-\u{212A}ontinue", "100-continue,", "200-ok"] {
            assertRefused(request([("expect", bad)]), endStream: false, 417, "Unsupported expectation")
        }
    }

    // MARK: Agreement with HTTP/1.1

    /// The same request over HTTP/1.1 parses to the same method, path, query and fields.
    func testAgreesWithTheHTTP11Parser() throws {
        let h2 = try head(request([("content-type", "application/json"), ("content-length", "12"), ("x-note", "\u{E9}")],
                                  replacing: [":method": "POST"]), endStream: false)
        let h1 = try HTTPRequestHead.parse(Array(("POST /api/v1/sessions/s1/events?after=3 HTTP/1.1\r\nHost: relay\r\n"
            + "Content-Type: application/json\r\nContent-Length: 12\r\nX-Note: \u{E9}\r\n").utf8))
        XCTAssertEqual(h2.method, h1.method)
        XCTAssertEqual(h2.path, h1.path)
        XCTAssertEqual(h2.query, h1.query)
        XCTAssertEqual(h2.framing, h1.framing)
        assertFields(h2, h1.fields.map { ($0.name, $0.value) })
        var h2AsH1 = h2
        h2AsH1.majorVersion = 1
        XCTAssertEqual(h2AsH1, h1)
    }
}
