// RecordEncodingTests.swift — record JSON and SSE framing bytes.

import XCTest
@testable import RelayCore

final class RecordEncodingTests: XCTestCase {
    func testJSONBodyIsEmbedded() {
        let body = bytes(#"{"type":"text","text":"echo: hello"}"#)
        XCTAssertEqual(text(record(id: 42, body: body, bodyIsJSON: true, headers: nil, includeSeqNum: false)),
                       #"{"data":{"type":"text","text":"echo: hello"},"id":42}"#)
        XCTAssertEqual(text(record(id: 7, body: body, bodyIsJSON: true, headers: nil, includeSeqNum: true)),
                       #"{"data":{"type":"text","text":"echo: hello"},"id":7,"seqNum":7}"#)
    }

    func testNonJSONBodyIsEscapedString() throws {
        let raw = bytes("he said \"hi\"\\\n\ttab\u{1}é😀")
        let out = record(id: 1, body: raw, bodyIsJSON: false, headers: nil, includeSeqNum: false)
        XCTAssertEqual(text(out), #"{"data":"he said \"hi\"\\\n\ttab\u0001é😀","id":1}"#)
        XCTAssertFalse(out.contains(0x0A))
        XCTAssertEqual(try JSONParser.parse(out)["data"]?.stringValue, "he said \"hi\"\\\n\ttab\u{1}é😀")
    }

    func testInvalidUTF8BodyStillProducesValidJSON() throws {
        let out = record(id: 3, body: [0x61, 0xFF, 0xC3, 0x62, 0xE2, 0x82], bodyIsJSON: false, headers: nil, includeSeqNum: false)
        XCTAssertTrue(JSONParser.isValid(out))
        XCTAssertEqual(try JSONParser.parse(out)["data"]?.stringValue, "a\u{FFFD}\u{FFFD}b\u{FFFD}\u{FFFD}")
    }

    func testControlRecord() {
        let headers = [("trigger-control", "turn-complete"), ("last-event-id", "5"), ("q", "a\"b")]
        XCTAssertEqual(text(record(id: 5, body: [], bodyIsJSON: false, headers: headers, includeSeqNum: false)),
                       #"{"data":null,"id":5,"headers":[["trigger-control","turn-complete"],["last-event-id","5"],["q","a\"b"]]}"#)
        XCTAssertEqual(text(record(id: 5, body: [], bodyIsJSON: false, headers: [("a", "b")], includeSeqNum: true)),
                       #"{"data":null,"id":5,"seqNum":5,"headers":[["a","b"]]}"#)
    }

    func testAppendJSONString() {
        var out = bytes("x")
        RecordEncoding.appendJSONString(of: bytes("a\u{7f}\r\u{8}\u{c}\u{1f}"), to: &out)
        XCTAssertEqual(text(out), "x\"a\u{7f}\\r\\b\\f\\u001f\"")
    }

    func testSSERecord() {
        let json = bytes(#"{"data":{"type":"text"},"id":42}"#)
        XCTAssertEqual(text(SSEFrame.record(id: 42, recordJSON: json, isControl: false)),
                       "id: 42\ndata: {\"data\":{\"type\":\"text\"},\"id\":42}\n\n")
        XCTAssertEqual(text(SSEFrame.record(id: 9, recordJSON: bytes("{}"), isControl: true)),
                       "id: 9\nevent: control\ndata: {}\n\n")
    }

    func testSSEFramingSurvivesNewlinesInJSONBody() {
        let body = bytes("{\n  \"a\": 1,\r\n  \"b\": [\r2]\n}")
        XCTAssertTrue(JSONParser.isValid(body))
        let record = record(id: 1, body: body, bodyIsJSON: true, headers: nil, includeSeqNum: false)
        let frame = text(SSEFrame.record(id: 1, recordJSON: record, isControl: false))
        XCTAssertEqual(frame, "id: 1\ndata: {\"data\":{\ndata:   \"a\": 1,\ndata:   \"b\": [\ndata: 2]\ndata: },\"id\":1}\n\n")
        // A client joins data lines with "\n": the result is the record, still valid JSON.
        let joined = frame.split(separator: "\n").filter { $0.hasPrefix("data: ") }.map { $0.dropFirst(6) }.joined(separator: "\n")
        XCTAssertTrue(JSONParser.isValid(bytes(joined)))
        XCTAssertEqual(frame.components(separatedBy: "\n\n").count, 2, "exactly one event")
    }

    func testPingAndGap() {
        XCTAssertEqual(text(SSEFrame.ping), ": ping\n\n")
        XCTAssertEqual(text(SSEFrame.gap(requested: 3, firstAvailable: 120)),
                       "event: gap\ndata: {\"requested\":3,\"firstAvailable\":120}\n\n")
    }

    func testLargeIds() {
        XCTAssertEqual(text(SSEFrame.record(id: UInt64.max, recordJSON: bytes("1"), isControl: false)),
                       "id: 18446744073709551615\ndata: 1\n\n")
        XCTAssertEqual(text(record(id: 0, body: bytes("1"), bodyIsJSON: true, headers: nil, includeSeqNum: false)),
                       #"{"data":1,"id":0}"#)
    }

    /// A record as the relay assembles it from a raw body (RecordData decides JSON or not at
    /// append; a control record has headers and no data).
    private func record(id: UInt64, body: [UInt8], bodyIsJSON: Bool, headers: [(String, String)]?,
                        includeSeqNum: Bool) -> [UInt8] {
        var data: [UInt8]?
        if headers == nil || !body.isEmpty {
            if bodyIsJSON {
                data = body
            } else {
                var quoted: [UInt8] = []
                RecordEncoding.appendJSONString(of: body, to: &quoted)
                data = quoted
            }
        }
        return RecordEncoding.json(id: id, dataJSON: data, headersJSON: headers.map(RecordEncoding.headersJSON),
                                   includeSeqNum: includeSeqNum)
    }
}
