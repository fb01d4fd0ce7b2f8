// S2MessagesTests: the s2.v1 messages (S2Messages.swift) as protobuf and as S2's JSON, the
// standard base64 of S2's "base64" format, and the v2 SSE framing (SSEFrame+V2.swift). No I/O.
import XCTest
@testable import RelayCore

final class S2MessagesTests: XCTestCase {
    private func protobufReason(_ bytes: [UInt8]) -> String? {
        do { _ = try S2AppendInput(protobuf: bytes[...]) } catch { return error.reason }
        return nil
    }

    private func json(_ text: String, _ format: S2Format = .raw) throws -> S2AppendInput {
        try S2AppendInput(json: bytes(text), format: format)
    }

    // MARK: AppendInput from protobuf

    func testAppendInputRoundTripsThroughTheWriter() throws {
        var w = ProtobufWriter()
        w.message(1) { r in
            r.uint64(1, 1_733_000_000_000)
            r.message(2) { h in h.bytesField(1, bytes("trigger-control")); h.bytesField(2, bytes("turn-complete")) }
            r.message(2) { h in h.bytesField(1, [0x00, 0xFF]); h.bytesField(2, [UInt8]()) }
            r.bytesField(3, bytes(#"{"data":1,"id":"a"}"#))
        }
        w.message(1) { _ in }                       // an empty record
        w.message(1) { r in r.bytesField(3, [0, 1, 2, 255]) }
        w.uint64(2, 42)
        w.bytesField(3, bytes("fence-token"))
        let input = try S2AppendInput(protobuf: w.bytes[...])
        XCTAssertEqual(input, S2AppendInput(records: [
            S2AppendRecord(timestamp: 1_733_000_000_000,
                           headers: [S2Header(name: bytes("trigger-control"), value: bytes("turn-complete")),
                                     S2Header(name: [0x00, 0xFF], value: [])],
                           body: bytes(#"{"data":1,"id":"a"}"#)),
            S2AppendRecord(),
            S2AppendRecord(body: [0, 1, 2, 255]),
        ], matchSeqNum: 42, fencingToken: "fence-token"))
    }

    func testAbsentOptionalFieldsStayNil() throws {
        let input = try S2AppendInput(protobuf: [0x0A, 0x00][...])
        XCTAssertEqual(input.records, [S2AppendRecord()])
        XCTAssertNil(input.records[0].timestamp)
        XCTAssertNil(input.matchSeqNum)
        XCTAssertNil(input.fencingToken)
        // match_seq_num 0 is present, not absent.
        XCTAssertEqual(try S2AppendInput(protobuf: [0x10, 0x00][...]).matchSeqNum, 0)
        XCTAssertEqual(try S2AppendInput(protobuf: [][...]), S2AppendInput(records: []))
    }

    func testLaterScalarFieldsWin() throws {
        // Protobuf: the last value of a non-repeated field is the one kept.
        let input = try S2AppendInput(protobuf: [0x10, 0x01, 0x10, 0x02, 0x0A, 0x05, 0x1A, 0x01, 0x61, 0x1A, 0x00][...])
        XCTAssertEqual(input.matchSeqNum, 2)
        XCTAssertEqual(input.records, [S2AppendRecord()], "the second body (empty) replaces the first")
    }

    func testUnknownFieldsOfEveryWireTypeAreSkipped() throws {
        let unknown: [UInt8] = [0x20, 0x96, 0x01,                   // 4: varint
                                0x29, 1, 2, 3, 4, 5, 6, 7, 8,       // 5: fixed64
                                0x32, 0x02, 0x0A, 0x0B,             // 6: length-delimited
                                0x3D, 1, 2, 3, 4,                   // 7: fixed32
                                0x80, 0x01, 0x05]                   // 16: varint (two-byte key)
        func lengthPrefixed(_ key: UInt8, _ payload: [UInt8]) -> [UInt8] {
            var w = ProtobufWriter()
            w.varint(UInt64(payload.count))
            return [key] + w.bytes + payload
        }
        let header: [UInt8] = unknown + [0x0A, 0x01, 0x6E] + unknown + [0x12, 0x01, 0x76] + unknown
        let record: [UInt8] = unknown + [0x08, 0x07] + lengthPrefixed(0x12, header) + unknown + [0x1A, 0x01, 0x62] + unknown
        XCTAssertGreaterThan(record.count, 127, "the record's length takes two bytes")
        let message: [UInt8] = unknown + lengthPrefixed(0x0A, record) + unknown + [0x10, 0x09] + unknown
        let input = try S2AppendInput(protobuf: message[...])
        XCTAssertEqual(input, S2AppendInput(records: [S2AppendRecord(timestamp: 7,
                                                                     headers: [S2Header(name: bytes("n"), value: bytes("v"))],
                                                                     body: bytes("b"))],
                                            matchSeqNum: 9))
    }

    func testWrongWireTypesAreRejected() {
        XCTAssertEqual(protobufReason([0x08, 0x01]), "records has the wrong wire type")
        XCTAssertEqual(protobufReason([0x12, 0x01, 0x01]), "match_seq_num has the wrong wire type")
        XCTAssertEqual(protobufReason([0x18, 0x01]), "fencing_token has the wrong wire type")
        // Inside a record.
        XCTAssertEqual(protobufReason([0x0A, 0x02, 0x0A, 0x00]), "timestamp has the wrong wire type")
        XCTAssertEqual(protobufReason([0x0A, 0x02, 0x10, 0x01]), "headers has the wrong wire type")
        XCTAssertEqual(protobufReason([0x0A, 0x02, 0x18, 0x01]), "body has the wrong wire type")
        // Inside a header.
        XCTAssertEqual(protobufReason([0x0A, 0x04, 0x12, 0x02, 0x08, 0x01]), "header name has the wrong wire type")
        XCTAssertEqual(protobufReason([0x0A, 0x04, 0x12, 0x02, 0x10, 0x01]), "header value has the wrong wire type")
        // A group (wire type 3) as an unknown field is not skipped but refused.
        XCTAssertEqual(protobufReason([0x23]), "unsupported wire type 3")
    }

    func testLengthsPastTheEndAreRejected() {
        XCTAssertEqual(protobufReason([0x0A, 0x05, 0x00]), "length past the end of the message")
        // A nested length that fits the outer message but not the record it is in.
        XCTAssertEqual(protobufReason([0x0A, 0x02, 0x1A, 0x05, 0x61, 0x61, 0x61, 0x61, 0x61]),
                       "length past the end of the message")
        XCTAssertEqual(protobufReason([0x1A, 0x03, 0x61]), "length past the end of the message")
        XCTAssertEqual(protobufReason([0x10]), "truncated varint")
        XCTAssertEqual(protobufReason([0x0A]), "truncated varint")
        XCTAssertEqual(protobufReason([0x29, 1, 2, 3]), "truncated fixed-width field")
    }

    func testFencingTokenMustBeUTF8() {
        XCTAssertEqual(protobufReason([0x1A, 0x02, 0xC3, 0x28]), "fencing_token is not UTF-8")
        XCTAssertNil(protobufReason([0x1A, 0x02, 0xC3, 0xA9]))
    }

    func testAtMostAThousandRecords() throws {
        let thousand = [[UInt8]](repeating: [0x0A, 0x00], count: 1000).flatMap { $0 }
        XCTAssertEqual(try S2AppendInput(protobuf: thousand[...]).records.count, 1000)
        XCTAssertEqual(protobufReason(thousand + [0x0A, 0x00]), "more than 1000 records")
        // Unknown fields do not count as records.
        XCTAssertNil(protobufReason(thousand + [0x20, 0x00]))
    }

    // MARK: Records

    func testMeteredBytesAndCommand() {
        let record = S2AppendRecord(headers: [S2Header(name: bytes("ab"), value: bytes("cde")),
                                              S2Header(name: [], value: bytes("x"))],
                                    body: bytes("12345"))
        XCTAssertEqual(record.meteredBytes, 8 + 5 + (2 + 2 + 3) + (2 + 0 + 1))
        XCTAssertEqual(S2AppendRecord().meteredBytes, 8)
        XCTAssertNil(record.command, "two headers: not a command")
        XCTAssertEqual(S2AppendRecord(headers: [S2Header(name: [], value: bytes("trim"))]).command, bytes("trim"))
        XCTAssertNil(S2AppendRecord(headers: [S2Header(name: bytes("a"), value: bytes("trim"))]).command)
        XCTAssertNil(S2AppendRecord().command)
    }

    // MARK: Acks and reads as protobuf

    func testAppendAckProtobufBytes() {
        let ack = S2AppendAck(start: S2Position(seqNum: 1, timestamp: 2),
                              end: S2Position(seqNum: 3, timestamp: 4),
                              tail: S2Position(seqNum: 300, timestamp: 1_733_000_000_000))
        XCTAssertEqual(ack.protobuf, [
            0x0A, 0x04, 0x08, 0x01, 0x10, 0x02,                          // start {1, 2}
            0x12, 0x04, 0x08, 0x03, 0x10, 0x04,                          // end {3, 4}
            0x1A, 0x0A, 0x08, 0xAC, 0x02,                                // tail {300,
            0x10, 0x80, 0xE4, 0xE5, 0xF6, 0xB7, 0x32,                    //       1733000000000}
        ])
    }

    func testAppendAckProtobufReadsBackAsPositions() throws {
        let ack = S2AppendAck(start: S2Position(seqNum: 0, timestamp: 0),
                              end: S2Position(seqNum: UInt64.max, timestamp: 5),
                              tail: S2Position(seqNum: 128, timestamp: 127))
        var reader = ProtobufReader(ack.protobuf[...])
        var positions: [UInt32: S2Position] = [:]
        while let (number, type) = try reader.nextField() {
            XCTAssertEqual(type, .lengthDelimited)
            positions[number] = try S2Position(protobuf: try reader.lengthDelimited())
        }
        XCTAssertEqual(positions, [1: ack.start, 2: ack.end, 3: ack.tail])
    }

    func testPositionSkipsUnknownAndMistypedFields() throws {
        // seq_num as length-delimited is skipped, not read; field 3 is unknown.
        let bytes: [UInt8] = [0x0A, 0x01, 0x05, 0x18, 0x09, 0x08, 0x07, 0x10, 0x08]
        XCTAssertEqual(try S2Position(protobuf: bytes[...]), S2Position(seqNum: 7, timestamp: 8))
    }

    func testReadBatchProtobufBytes() {
        let records = [
            S2SequencedRecord(seqNum: 5, timestamp: 6, headers: [S2Header(name: bytes("a"), value: bytes("b"))], body: bytes("x")),
            S2SequencedRecord(seqNum: 7, timestamp: 8, headers: [], body: []),
        ]
        XCTAssertEqual(S2ReadBatch.protobuf(records: records, tail: S2Position(seqNum: 8, timestamp: 9)), [
            0x0A, 0x0F, 0x08, 0x05, 0x10, 0x06, 0x1A, 0x06, 0x0A, 0x01, 0x61, 0x12, 0x01, 0x62, 0x22, 0x01, 0x78,
            0x0A, 0x04, 0x08, 0x07, 0x10, 0x08,                          // no body field for an empty body
            0x12, 0x04, 0x08, 0x08, 0x10, 0x09,
        ])
        XCTAssertEqual(S2ReadBatch.protobuf(records: [], tail: nil), [])
    }

    // MARK: Acks and reads as JSON

    func testAppendAckJSON() {
        let ack = S2AppendAck(start: S2Position(seqNum: 1, timestamp: 2),
                              end: S2Position(seqNum: 3, timestamp: 4),
                              tail: S2Position(seqNum: 3, timestamp: 1_733_000_000_000))
        XCTAssertEqual(text(ack.json),
                       #"{"start":{"seq_num":1,"timestamp":2},"end":{"seq_num":3,"timestamp":4},"tail":{"seq_num":3,"timestamp":1733000000000}}"#)
    }

    func testReadBatchJSONRawAndBase64() {
        let records = [
            S2SequencedRecord(seqNum: 5, timestamp: 6, headers: [S2Header(name: bytes("a"), value: bytes("\"q\""))],
                              body: bytes("hi\n")),
            S2SequencedRecord(seqNum: 7, timestamp: 8, headers: [], body: []),
        ]
        XCTAssertEqual(text(S2ReadBatch.json(records: records, tail: S2Position(seqNum: 8, timestamp: 9), format: .raw)),
                       #"{"records":[{"seq_num":5,"timestamp":6,"headers":[["a","\"q\""]],"body":"hi\n"},{"seq_num":7,"timestamp":8}],"tail":{"seq_num":8,"timestamp":9}}"#)
        XCTAssertEqual(text(S2ReadBatch.json(records: records, tail: nil, format: .base64)),
                       #"{"records":[{"seq_num":5,"timestamp":6,"headers":[["YQ==","InEi"]],"body":"aGkK"},{"seq_num":7,"timestamp":8}]}"#)
        XCTAssertEqual(text(S2ReadBatch.json(records: [], tail: nil, format: .raw)), #"{"records":[]}"#)
    }

    func testRawJSONReplacesBytesThatAreNotUTF8() throws {
        let record = S2SequencedRecord(seqNum: 1, timestamp: 2, headers: [], body: [0x61, 0xFF])
        var out: [UInt8] = []
        record.appendJSON(format: .raw, to: &out)
        XCTAssertEqual(text(out), "{\"seq_num\":1,\"timestamp\":2,\"body\":\"a\u{FFFD}\"}")
        XCTAssertNoThrow(try JSONParser.parse(out))
        out = []
        record.appendJSON(format: .base64, to: &out)
        XCTAssertEqual(text(out), #"{"seq_num":1,"timestamp":2,"body":"Yf8="}"#)
    }

    // MARK: AppendInput from JSON

    func testFormatHeader() {
        XCTAssertEqual(S2Format.parse(nil), .raw)
        XCTAssertEqual(S2Format.parse("raw"), .raw)
        XCTAssertEqual(S2Format.parse("Base64"), .base64)
        XCTAssertNil(S2Format.parse("json"))
        XCTAssertNil(S2Format.parse(""))
    }

    func testJSONAppendRaw() throws {
        let input = try json(#"""
            {"records":[{"timestamp":12,"headers":[["trigger-control","turn-complete"],["","x"]],"body":"{\"data\":1}"},
                        {},
                        {"body":"é\n","headers":[],"timestamp":null}],
             "match_seq_num":3,"fencing_token":"tok"}
            """#)
        XCTAssertEqual(input, S2AppendInput(records: [
            S2AppendRecord(timestamp: 12,
                           headers: [S2Header(name: bytes("trigger-control"), value: bytes("turn-complete")),
                                     S2Header(name: [], value: bytes("x"))],
                           body: bytes(#"{"data":1}"#)),
            S2AppendRecord(),
            S2AppendRecord(body: bytes("é\n")),
        ], matchSeqNum: 3, fencingToken: "tok"))
    }

    func testJSONAppendBase64() throws {
        let input = try json(#"{"records":[{"headers":[["YQ==","AP8="]],"body":"aGk="},{"body":""}],"match_seq_num":0}"#, .base64)
        XCTAssertEqual(input, S2AppendInput(records: [
            S2AppendRecord(headers: [S2Header(name: bytes("a"), value: [0x00, 0xFF])], body: bytes("hi")),
            S2AppendRecord(body: []),
        ], matchSeqNum: 0))
        // The same text read as raw keeps the base64 characters.
        XCTAssertEqual(try json(#"{"records":[{"body":"aGk="}]}"#, .raw).records[0].body, bytes("aGk="))
    }

    func testJSONAbsentAndNullOptionals() throws {
        let input = try json(#"{"records":[{"body":null,"headers":null}],"match_seq_num":null,"fencing_token":null}"#)
        XCTAssertEqual(input, S2AppendInput(records: [S2AppendRecord()]))
        XCTAssertNil(input.matchSeqNum)
        XCTAssertNil(input.fencingToken)
        XCTAssertEqual(try json(#"{"records":[]}"#), S2AppendInput(records: []))
    }

    func testJSONBadShapesAre400() {
        let cases: [(String, S2Format, String)] = [
            ("not json", .raw, "Invalid JSON"),
            ("", .raw, "Invalid JSON"),
            (#"[{"records":[]}]"#, .raw, "records array"),
            (#"{}"#, .raw, "records array"),
            (#"{"records":{}}"#, .raw, "records array"),
            (#"{"records":null}"#, .raw, "records array"),
            (#"{"records":[1]}"#, .raw, "must be an object"),
            (#"{"records":[[]]}"#, .raw, "must be an object"),
            (#"{"records":[{"timestamp":-1}]}"#, .raw, "timestamp"),
            (#"{"records":[{"timestamp":"5"}]}"#, .raw, "timestamp"),
            (#"{"records":[{"timestamp":1.5}]}"#, .raw, "timestamp"),
            (#"{"records":[{"headers":{"a":"b"}}]}"#, .raw, "headers must be"),
            (#"{"records":[{"headers":[["a"]]}]}"#, .raw, "headers must be"),
            (#"{"records":[{"headers":[["a","b","c"]]}]}"#, .raw, "headers must be"),
            (#"{"records":[{"headers":["ab"]}]}"#, .raw, "headers must be"),
            (#"{"records":[{"headers":[[1,"b"]]}]}"#, .raw, "A header name must be a string"),
            (#"{"records":[{"headers":[["a",null]]}]}"#, .raw, "A header value must be a string"),
            (#"{"records":[{"body":5}]}"#, .raw, "body must be a string"),
            (#"{"records":[{"body":{"data":1}}]}"#, .raw, "body must be a string"),
            (#"{"records":[{"body":"aGk"}]}"#, .base64, "body is not valid base64"),
            (#"{"records":[{"body":"a-k="}]}"#, .base64, "body is not valid base64"),
            (#"{"records":[{"headers":[["!!!!","YQ=="]]}]}"#, .base64, "A header name is not valid base64"),
            (#"{"records":[{"headers":[["YQ==","Y"]]}]}"#, .base64, "A header value is not valid base64"),
            (#"{"records":[],"match_seq_num":-2}"#, .raw, "match_seq_num"),
            (#"{"records":[],"match_seq_num":"3"}"#, .raw, "match_seq_num"),
            (#"{"records":[],"fencing_token":7}"#, .raw, "fencing_token must be a string"),
        ]
        for (body, format, fragment) in cases {
            assertAPIError(400, fragment) { try json(body, format) }
        }
    }

    func testJSONAtMostAThousandRecords() throws {
        func body(_ n: Int) -> String { #"{"records":["# + Array(repeating: "{}", count: n).joined(separator: ",") + "]}" }
        XCTAssertEqual(try json(body(1000)).records.count, 1000)
        assertAPIError(400, "at most 1000 records") { try json(body(1001)) }
    }

    // MARK: Base64 (standard alphabet, padded)

    func testBase64Encode() {
        XCTAssertEqual(Base64.encode([UInt8]()), "")
        XCTAssertEqual(Base64.encode(bytes("f")), "Zg==")
        XCTAssertEqual(Base64.encode(bytes("fo")), "Zm8=")
        XCTAssertEqual(Base64.encode(bytes("foo")), "Zm9v")
        XCTAssertEqual(Base64.encode(bytes("foob")), "Zm9vYg==")
        XCTAssertEqual(Base64.encode(bytes("foobar")), "Zm9vYmFy")
        // The two characters that differ from base64url.
        XCTAssertEqual(Base64.encode([0xFB, 0xFF, 0xBF]), "+/+/")
        XCTAssertEqual(Base64.encode([0xFF, 0xFF]), "//8=")
    }

    func testBase64Decode() {
        XCTAssertEqual(Base64.decode(""), [])
        XCTAssertEqual(Base64.decode("Zg=="), bytes("f"))
        XCTAssertEqual(Base64.decode("Zm8="), bytes("fo"))
        XCTAssertEqual(Base64.decode("Zm9vYmFy"), bytes("foobar"))
        XCTAssertEqual(Base64.decode("+/+/"), [0xFB, 0xFF, 0xBF])
        XCTAssertEqual(Base64.decode("//8="), [0xFF, 0xFF])
    }

    func testBase64Rejects() {
        for bad in ["Zg", "Zg=", "Zm8", "Z===", "====", "=", "Zm9v=", "Zg==Zg==", "Zg=a",
                    "-_8=", "Zm9_", "Zm 9", "Zm9\n", "Zh==", "Zm9=", "Zg\u{301}=", "é=="] {
            XCTAssertNil(Base64.decode(bad), "\(bad.debugDescription) should be refused")
        }
    }

    func testBase64RoundTrip() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<40 {
            let input = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let encoded = Base64.encode(input)
            XCTAssertEqual(encoded.utf8.count, (length + 2) / 3 * 4)
            XCTAssertEqual(Base64.decode(encoded), input)
        }
    }

    // MARK: v2 SSE framing

    func testV2BatchBytes() {
        let frame = SSEFrame.v2Batch(lastSeq: 5, recordsJSON: bytes(#"{"seq_num":4},{"seq_num":5}"#), tailSeq: 6, tailTime: 77)
        XCTAssertEqual(text(frame),
                       "event: batch\nid: 5\ndata: {\"records\":[{\"seq_num\":4},{\"seq_num\":5}],\"tail\":{\"seq_num\":6,\"timestamp\":77}}\n\n")
        XCTAssertEqual(text(SSEFrame.v2Batch(lastSeq: 0, recordsJSON: [], tailSeq: 1, tailTime: 0)),
                       "event: batch\nid: 0\ndata: {\"records\":[],\"tail\":{\"seq_num\":1,\"timestamp\":0}}\n\n")
    }

    func testV2PingAndDoneBytes() {
        XCTAssertEqual(text(SSEFrame.v2Ping(now: 1_733_000_000_123, tailSeq: 6, tailTime: 77)),
                       "event: ping\ndata: {\"timestamp\":1733000000123,\"tail\":{\"seq_num\":6,\"timestamp\":77}}\n\n")
        XCTAssertEqual(text(SSEFrame.v2Done), "data: [DONE]\n\n")
    }

    func testV2BatchParsesBackWithTheSSEParser() throws {
        let frame = SSEFrame.v2Batch(lastSeq: UInt64.max, recordsJSON: bytes(#"{"a":"x\ny"}"#), tailSeq: 9, tailTime: 10)
        var parser = SSEParser()
        let events = parser.feed(frame)
        XCTAssertEqual(events.count, 1)
        XCTAssertEqual(events.first?.event, "batch")
        XCTAssertEqual(events.first?.id, String(UInt64.max))
        let payload = try JSONParser.parse(try XCTUnwrap(events.first?.data))
        XCTAssertEqual(payload["tail"]?["seq_num"]?.int64Value, 9)
        XCTAssertEqual(payload["records"]?.arrayValue?.count, 1)
    }
}

final class S2HeaderCapTests: XCTestCase {
    /// A record of many empty headers is small on the wire and large once decoded: refused.
    func testARecordHasAtMost256Headers() throws {
        func input(headers: Int) -> [UInt8] {
            var w = ProtobufWriter()
            w.message(1) { record in
                for _ in 0..<headers { record.message(2) { _ in } }
                record.bytesField(3, [0x41])
            }
            return w.bytes
        }
        XCTAssertEqual(try S2AppendInput(protobuf: input(headers: 256)[...]).records.first?.headers.count, 256)
        XCTAssertThrowsError(try S2AppendInput(protobuf: input(headers: 257)[...]))
        let pairs = Array(repeating: #"["a","b"]"#, count: 257).joined(separator: ",")
        XCTAssertThrowsError(try S2AppendInput(json: Array(#"{"records":[{"headers":[\#(pairs)]}]}"#.utf8), format: .raw)) {
            XCTAssertEqual(($0 as? APIError)?.status, 400)
        }
    }
}
