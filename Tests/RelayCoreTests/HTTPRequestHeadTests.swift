// HTTPRequestHeadTests: the strict request-head parser (RFC 9112), one refusal per ambiguity
// a smuggling or header-injection attack relies on.
import XCTest
@testable import RelayWire

final class HTTPRequestHeadTests: XCTestCase {
    private func parse(_ text: String) throws -> HTTPRequestHead {
        try HTTPRequestHead.parse(Array(text.utf8))
    }

    private func assertRefused(_ text: String, _ status: Int, _ message: String? = nil, line: UInt = #line) {
        XCTAssertThrowsError(try parse(text), line: line) { error in
            guard let error = error as? HTTPHeadError else { return XCTFail("\(error)", line: line) }
            XCTAssertEqual(error.status, status, "\(text.debugDescription): \(error.message)", line: line)
            if let message { XCTAssertEqual(error.message, message, line: line) }
        }
    }

    func testAnOrdinaryRequest() throws {
        let head = try parse("POST /api/v1/sessions?x=1 HTTP/1.1\r\nHost: relay\r\nContent-Length: 12\r\nX-Part-Id:  p1 \r\n")
        XCTAssertEqual(head.method, "POST")
        XCTAssertEqual(head.path, "/api/v1/sessions")
        XCTAssertEqual(head.query, "x=1")
        XCTAssertEqual(head.minorVersion, 1)
        XCTAssertEqual(head.framing, .length(12))
        XCTAssertEqual(head.value("x-part-id"), "p1", "surrounding whitespace is not part of a value")
        XCTAssertTrue(head.keepAlive)
        XCTAssertFalse(head.expectsContinue)
    }

    func testTwoContentLengthsAreRefusedEvenWhenEqual() {
        assertRefused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 50\r\n", 400, "Duplicate Content-Length header")
        assertRefused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\ncontent-length: 5\r\n", 400)
        assertRefused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n", 400)
    }

    func testContentLengthIsPlainDigits() {
        for bad in ["+5", "-1", "0x5", "5 5", "", "1e3", "99999999999999999999", " 5a"] {
            assertRefused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \(bad)\r\n", 400)
        }
    }

    func testTransferEncodingRules() throws {
        XCTAssertEqual(try parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n").framing, .chunked)
        assertRefused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n", 400)
        assertRefused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n", 501)
        assertRefused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n", 501)
        assertRefused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n", 400)
        assertRefused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", 400)
        assertRefused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n", 400)
        // Found by fuzz_http: an empty list element in front of chunked.
        assertRefused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked\r\n", 400, "Empty element in Transfer-Encoding")
        assertRefused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n", 400)
    }

    func testHostIsRequiredOnceOnHTTP11() throws {
        assertRefused("GET / HTTP/1.1\r\n", 400, "HTTP/1.1 request without Host")
        assertRefused("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n", 400)
        assertRefused("GET / HTTP/1.1\r\nHost: a b\r\n", 400)
        XCTAssertEqual(try parse("GET / HTTP/1.0\r\n").minorVersion, 0, "HTTP/1.0 may leave Host out")
    }

    func testHeadersTheRelayActsOnMayAppearOnce() {
        for name in ["Authorization", "X-Part-Id", "Last-Event-ID", "Timeout-Seconds", "Origin"] {
            assertRefused("GET / HTTP/1.1\r\nHost: a\r\n\(name): one\r\n\(name.lowercased()): two\r\n", 400,
                          "Duplicate \(HTTPRequestHead.canonicalName(name.lowercased())) header")
        }
    }

    func testControlBytesInAnyFieldAreRefused() {
        for byte in [0x00, 0x01, 0x0B, 0x1F, 0x7F] {
            let text = "GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer key" + String(UnicodeScalar(UInt8(byte))) + "garbage\r\n"
            assertRefused(text, 400, "Control character in the Authorization header")
        }
        assertRefused("GET / HTTP/1.1\r\nHost: a\r\nX-Part-Id: p\rone\r\n", 400, "Bare CR in request head")
        assertRefused("GET / HTTP/1.1\r\nHost: a\r\nX-Part-Id: p\none\r\n", 400, "Bare LF in request head")
        XCTAssertNoThrow(try parse("GET / HTTP/1.1\r\nHost: a\r\nX-Note: tab\there, and \u{e9}\r\n"), "HTAB and non-ASCII are allowed")
    }

    func testMalformedLinesAreRefused() {
        assertRefused("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n", 400, "Obsolete line folding is not accepted")
        assertRefused("GET / HTTP/1.1\r\nHost : a\r\n", 400)
        assertRefused("GET / HTTP/1.1\r\nHost a\r\n", 400)
        assertRefused("GET / HTTP/1.1\r\n: a\r\n", 400)
        assertRefused("GET  / HTTP/1.1\r\nHost: a\r\n", 400)
        assertRefused("GET / HTTP/1.1 \r\nHost: a\r\n", 400)
        assertRefused("G@T / HTTP/1.1\r\nHost: a\r\n", 400)
        assertRefused("GET /a\u{7F} HTTP/1.1\r\nHost: a\r\n", 400)
        assertRefused("GET / HTTP/2.0\r\nHost: a\r\n", 505)
        assertRefused("GET / HTTX/1.1\r\nHost: a\r\n", 400)
        assertRefused("GET relative HTTP/1.1\r\nHost: a\r\n", 400)
        assertRefused("GET * HTTP/1.1\r\nHost: a\r\n", 400)
    }

    func testTargetsInEveryForm() throws {
        let absolute = try parse("GET http://relay:8080/healthz?a=b HTTP/1.1\r\nHost: relay\r\n")
        XCTAssertEqual(absolute.path, "/healthz")
        XCTAssertEqual(absolute.query, "a=b")
        XCTAssertEqual(try parse("GET https://relay HTTP/1.1\r\nHost: relay\r\n").path, "/")
        XCTAssertEqual(try parse("OPTIONS * HTTP/1.1\r\nHost: relay\r\n").path, "*")
    }

    func testConnectionAndExpectation() throws {
        XCTAssertFalse(try parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n").keepAlive)
        XCTAssertFalse(try parse("GET / HTTP/1.0\r\n").keepAlive)
        XCTAssertTrue(try parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n").keepAlive)
        XCTAssertTrue(try parse("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n").expectsContinue)
        assertRefused("POST / HTTP/1.1\r\nHost: a\r\nExpect: something\r\n", 417)
    }

    /// Found by reading after fuzzing: tokens compared as characters let the Kelvin sign (which
    /// Swift treats as equal to "K") spell "chunked" and "keep-alive" for the relay only.
    func testTokensAreComparedAsBytes() throws {
        assertRefused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chun\u{212A}ed\r\n", 501)
        XCTAssertFalse(try parse("GET / HTTP/1.0\r\nConnection: \u{212A}eep-alive\r\n").keepAlive)
        XCTAssertTrue(try parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: \u{212A}lose\r\n").keepAlive,
                      "an unknown option is not close")
        assertRefused("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continu\u{E9}\r\n", 417)
    }

    func testTooManyFields() {
        let fields = (0...HTTPRequestHead.maxFieldCount).map { "X-F\($0): v\r\n" }.joined()
        assertRefused("GET / HTTP/1.1\r\nHost: a\r\n" + fields, 431)
    }
}

final class ChunkedBodyDecoderTests: XCTestCase {
    private func decode(_ text: String, limit: Int = 1 << 20, pieces: Int = 1) throws -> (body: String, consumed: Int, complete: Bool) {
        var decoder = ChunkedBodyDecoder(limit: limit)
        var body: [UInt8] = []
        let bytes = Array(text.utf8)
        var consumed = 0
        let size = max(1, (bytes.count + pieces - 1) / pieces)
        var start = 0
        while start < bytes.count && !decoder.isComplete {
            let end = min(bytes.count, start + size)
            consumed += try decoder.feed(bytes[start..<end], into: &body)
            start = end
        }
        return (String(decoding: body, as: UTF8.self), consumed, decoder.isComplete)
    }

    func testBodiesFedWholeOrByteByByte() throws {
        let text = "5\r\nhello\r\n6 ;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\nGET / HTTP/1.1"
        for pieces in [1, 3, text.utf8.count] {
            let result = try decode(text, pieces: pieces)
            XCTAssertEqual(result.body, "hello world")
            XCTAssertTrue(result.complete)
            XCTAssertEqual(result.consumed, text.utf8.count - "GET / HTTP/1.1".utf8.count,
                           "the next request's bytes are left alone (pieces: \(pieces))")
        }
    }

    func testChunkSizesArePlainHex() {
        for bad in ["0x5\r\nhello\r\n0\r\n\r\n", "+5\r\nhello\r\n0\r\n\r\n", " 5\r\nhello\r\n0\r\n\r\n", "\r\n",
                    "g\r\n", "-1\r\n", "1234567890abcdef0\r\n", "2 3\r\nab\r\n0\r\n\r\n", "2 \r\nab\r\n"] {
            XCTAssertThrowsError(try decode(bad), bad.debugDescription) { error in
                guard case ChunkedBodyDecoder.Failure.malformed = error else { return XCTFail("\(error)") }
            }
        }
    }

    func testFramingErrors() {
        for bad in ["5\r\nhelloX\r\n", "5\nhello\r\n", "5\r\nhello\r\r", "0\r\nTrailer\n\r\n", "5;\u{1}\r\n"] {
            XCTAssertThrowsError(try decode(bad), bad.debugDescription)
        }
    }

    func testTheLimitIsEnforcedBeforeTheDataArrives() {
        XCTAssertThrowsError(try decode("11\r\n", limit: 16)) { error in
            XCTAssertEqual(error as? ChunkedBodyDecoder.Failure, .tooLarge)
        }
        XCTAssertThrowsError(try decode("8\r\n12345678\r\n9\r\n", limit: 16)) { error in
            XCTAssertEqual(error as? ChunkedBodyDecoder.Failure, .tooLarge)
        }
        XCTAssertNoThrow(try decode("10\r\n1234567890123456\r\n0\r\n\r\n", limit: 16))
    }

    func testExtensionsAndTrailersAreBounded() {
        let longExtension = "5;" + String(repeating: "e", count: 2_000) + "\r\nhello\r\n0\r\n\r\n"
        XCTAssertThrowsError(try decode(longExtension))
        let longTrailer = "0\r\n" + String(repeating: "X-T: v\r\n", count: 2_000) + "\r\n"
        XCTAssertThrowsError(try decode(longTrailer))
    }
}
