// S2StoredRecordTests: how an S2 record is stored (S2StoredRecord) and how a stored record is
// shown to S2 readers and v2 drains (StoredRecord+S2). No I/O.
import XCTest
import RelayCore
@testable import RelayStorage

final class S2StoredRecordTests: XCTestCase {
    private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
    private func text(_ b: [UInt8]?) -> String? { b.map { String(decoding: $0, as: UTF8.self) } }

    private func header(_ name: String, _ value: String) -> S2Header { S2Header(name: bytes(name), value: bytes(value)) }

    /// The packed fields as (name, value) text pairs, through the live-message field reader.
    private func fields(_ stored: S2StoredRecord, file: StaticString = #filePath, line: UInt = #line) -> [(String, [UInt8])] {
        guard let parsed = LiveRecord.fields(stored.packedFields[...]) else {
            XCTFail("packed fields do not parse: \(String(decoding: stored.packedFields, as: UTF8.self))", file: file, line: line)
            return []
        }
        return parsed.map { (String(decoding: $0.0, as: UTF8.self), Array($0.1)) }
    }

    private func names(_ stored: S2StoredRecord) -> [String] { fields(stored).map(\.0) }

    private func assert422(_ record: S2AppendRecord, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        do {
            let stored = try S2StoredRecord(record)
            XCTFail("expected 422, stored \(stored)", file: file, line: line)
        } catch {
            XCTAssertEqual(error.status, 422, file: file, line: line)
            XCTAssertTrue(error.message.contains(fragment), "'\(error.message)' lacks '\(fragment)'", file: file, line: line)
        }
    }

    /// The stored record as a reader gets it back.
    private func readBack(_ stored: S2StoredRecord, seq: UInt64 = 3) -> StoredRecord {
        StoredRecord(seq: seq, fields: LiveRecord.fields(stored.packedFields[...]) ?? [])
    }

    // MARK: S2StoredRecord

    func testEnvelopeBecomesDataAndId() throws {
        let stored = try S2StoredRecord(S2AppendRecord(body: bytes(#"{"data": {"a": [1, 2]}, "id": "chunk-1"}"#)))
        XCTAssertEqual(stored.packedFields, bytes(#"d11:{"a":[1,2]}i7:chunk-1"#))
        XCTAssertEqual(stored.command, "")
        XCTAssertEqual(stored.commandArgument, [])
        let back = readBack(stored)
        XCTAssertEqual(text(back.data), #"{"a":[1,2]}"#)
        XCTAssertEqual(text(back.envelopeId), "chunk-1")
        XCTAssertNil(back.body)
    }

    func testEnvelopeOrderAndLeadingWhitespace() throws {
        let stored = try S2StoredRecord(S2AppendRecord(body: bytes("\n {\"id\":\"x\",\"data\":\"s\"}")))
        XCTAssertEqual(stored.packedFields, bytes(#"d3:"s"i1:x"#))
    }

    func testEnvelopeWithHeadersKeepsThem() throws {
        let stored = try S2StoredRecord(S2AppendRecord(headers: [header("k", "v")], body: bytes(#"{"data":null,"id":""}"#)))
        XCTAssertEqual(names(stored), ["h", "d", "i"])
        XCTAssertEqual(stored.packedFields, bytes(#"h11:[["k","v"]]d4:nulli0:"#))
    }

    func testBodiesThatAreNotTheEnvelopeAreKeptAsWritten() throws {
        for body in [#"{"data":1}"#, #"{"data":1,"id":2}"#, #"{"data":1,"id":"a","x":0}"#, #"{"id":"a","value":1}"#,
                     "hello", #""quoted""#, "[1,2]", #"{"data":1,"id":"a""#] {
            let stored = try S2StoredRecord(S2AppendRecord(body: bytes(body)))
            XCTAssertEqual(stored.packedFields, bytes("b\(body.utf8.count):") + bytes(body), body)
        }
        let binary: [UInt8] = [0x00, 0xFF, 0x3A, 0x31]
        XCTAssertEqual(try S2StoredRecord(S2AppendRecord(body: binary)).packedFields, bytes("b4:") + binary)
    }

    func testEmptyRecordIsAnEmptyBody() throws {
        XCTAssertEqual(try S2StoredRecord(S2AppendRecord()).packedFields, bytes("b0:"))
    }

    func testHeadersWithoutBodyAreAControlRecord() throws {
        let stored = try S2StoredRecord(S2AppendRecord(headers: [header("trigger-control", "turn-complete"), header("a", "\"")]))
        XCTAssertEqual(names(stored), ["h"])
        XCTAssertEqual(text(fields(stored).first?.1), #"[["trigger-control","turn-complete"],["a","\""]]"#)
        let back = readBack(stored)
        XCTAssertTrue(back.isControl)
        XCTAssertTrue(back.isTurnComplete)
        XCTAssertFalse(back.isCommand)
    }

    func testHeadersWithARawBody() throws {
        let stored = try S2StoredRecord(S2AppendRecord(headers: [header("k", "v")], body: bytes("raw")))
        XCTAssertEqual(stored.packedFields, bytes(#"h11:[["k","v"]]b3:raw"#))
        XCTAssertFalse(readBack(stored).isControl)
    }

    func testTrimIsACommandWithADecimalArgument() throws {
        let seq: UInt64 = 0x0102_0304_0506_0708
        let body: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
        let stored = try S2StoredRecord(S2AppendRecord(headers: [header("", "trim")], body: body))
        XCTAssertEqual(stored.command, "trim")
        XCTAssertEqual(text(stored.commandArgument), String(seq))
        XCTAssertEqual(stored.packedFields, bytes(#"h13:[["","trim"]]b8:"#) + body)
        XCTAssertTrue(readBack(stored).isCommand)

        let max = try S2StoredRecord(S2AppendRecord(headers: [header("", "trim")], body: [UInt8](repeating: 0xFF, count: 8)))
        XCTAssertEqual(text(max.commandArgument), "18446744073709551615")
        let zero = try S2StoredRecord(S2AppendRecord(headers: [header("", "trim")], body: [UInt8](repeating: 0, count: 8)))
        XCTAssertEqual(text(zero.commandArgument), "0")
    }

    func testTrimWithTheWrongBodySizeIs422() {
        for size in [0, 7, 9, 16] {
            assert422(S2AppendRecord(headers: [header("", "trim")], body: [UInt8](repeating: 1, count: size)), "8-byte")
        }
    }

    func testFence() throws {
        let stored = try S2StoredRecord(S2AppendRecord(headers: [header("", "fence")], body: bytes("token-1")))
        XCTAssertEqual(stored.command, "fence")
        XCTAssertEqual(stored.commandArgument, bytes("token-1"))
        XCTAssertEqual(stored.packedFields, bytes(#"h14:[["","fence"]]b7:token-1"#))
        // An empty token (clears the fence) and one of exactly 36 bytes are allowed.
        XCTAssertEqual(try S2StoredRecord(S2AppendRecord(headers: [header("", "fence")])).commandArgument, [])
        let longest = String(repeating: "t", count: 36)
        XCTAssertEqual(try S2StoredRecord(S2AppendRecord(headers: [header("", "fence")], body: bytes(longest))).commandArgument,
                       bytes(longest))
    }

    func testFenceTokenTooLongOrNotUTF8Is422() {
        assert422(S2AppendRecord(headers: [header("", "fence")], body: bytes(String(repeating: "t", count: 37))), "at most 36")
        assert422(S2AppendRecord(headers: [header("", "fence")], body: [0x61, 0xFF]), "UTF-8")
    }

    func testUnknownCommandIs422() {
        assert422(S2AppendRecord(headers: [header("", "frobnicate")]), "Unknown command")
        assert422(S2AppendRecord(headers: [header("", "")]), "Unknown command")
        assert422(S2AppendRecord(headers: [header("", "Trim")], body: [UInt8](repeating: 0, count: 8)), "Unknown command")
    }

    func testCommandWithMoreHeadersIs422() {
        assert422(S2AppendRecord(headers: [header("", "trim"), header("a", "b")], body: [UInt8](repeating: 0, count: 8)),
                  "exactly one header")
    }

    func testAnEmptyHeaderNameAfterTheFirstIsNotACommand() throws {
        let stored = try S2StoredRecord(S2AppendRecord(headers: [header("a", "b"), header("", "trim")]))
        XCTAssertEqual(stored.command, "")
        XCTAssertEqual(names(stored), ["h"])
        XCTAssertFalse(readBack(stored).isCommand)
    }

    func testHeadersThatAreNotUTF8Are422() {
        assert422(S2AppendRecord(headers: [S2Header(name: [0xC3, 0x28], value: bytes("v"))]), "UTF-8")
        assert422(S2AppendRecord(headers: [S2Header(name: bytes("n"), value: [0xFF])], body: bytes("x")), "UTF-8")
        assert422(S2AppendRecord(headers: [S2Header(name: [], value: [0xFE])]), "UTF-8")
    }

    // MARK: StoredRecord as S2 shows it

    private func appended(seq: UInt64, data: String, partId: String?, time: UInt64 = 0) -> StoredRecord {
        var record = StoredRecord(seq: seq, data: bytes(data), time: time)
        record.partId = partId.map(bytes)
        return record
    }

    private func s2JSON(_ record: StoredRecord) -> String {
        var out: [UInt8] = []
        record.appendS2JSON(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    func testAppendedRecordWithPartId() throws {
        let record = appended(seq: 4, data: #"{"a":"x\ny"}"#, partId: "part-7", time: 9)
        XCTAssertEqual(text(record.s2Body), #"{"data":"{\"a\":\"x\\ny\"}","id":"part-7"}"#)
        XCTAssertEqual(text(record.v2DrainJSON), #"{"data":"{\"a\":\"x\\ny\"}","id":"part-7","seqNum":4}"#)
        // The S2 JSON has the body as a string, which holds the envelope.
        let json = try JSONParser.parse(bytes(s2JSON(record)))
        XCTAssertEqual(json["seq_num"]?.int64Value, 4)
        XCTAssertEqual(json["timestamp"]?.int64Value, 9)
        XCTAssertNil(json["headers"])
        XCTAssertEqual(json["body"]?.stringValue.map { Array($0.utf8) }, record.s2Body)
        let envelope = try JSONParser.parse(try XCTUnwrap(json["body"]?.stringValue))
        XCTAssertEqual(envelope["data"]?.stringValue, "{\"a\":\"x\\ny\"}")
        XCTAssertEqual(envelope["id"]?.stringValue, "part-7")
    }

    func testAppendedRecordWithoutPartIdUsesTheSeq() {
        let record = appended(seq: 12, data: "[1]", partId: nil)
        XCTAssertEqual(text(record.s2Body), #"{"data":"[1]","id":"12"}"#)
        XCTAssertEqual(text(record.v2DrainJSON), #"{"data":"[1]","id":"12","seqNum":12}"#)
    }

    func testAppendedStringDataIsNotQuotedTwice() {
        let record = appended(seq: 2, data: #""hello""#, partId: "p")
        XCTAssertEqual(text(record.s2Body), #"{"data":"hello","id":"p"}"#)
        XCTAssertEqual(text(record.v2DrainJSON), #"{"data":"hello","id":"p","seqNum":2}"#)
    }

    func testEnvelopeRecordShowsItsDataAsAJSONValue() throws {
        let stored = try S2StoredRecord(S2AppendRecord(body: bytes(#"{"data":{"a":1},"id":"x1"}"#)))
        var record = readBack(stored, seq: 5)
        record.time = 6
        record.partId = bytes("ignored-when-an-envelope-id-exists")
        XCTAssertEqual(text(record.s2Body), #"{"data":{"a":1},"id":"x1"}"#)
        XCTAssertEqual(s2JSON(record), #"{"seq_num":5,"timestamp":6,"body":"{\"data\":{\"a\":1},\"id\":\"x1\"}"}"#)
        XCTAssertEqual(text(record.v2DrainJSON), #"{"data":{"a":1},"id":"x1","seqNum":5}"#)
    }

    func testEnvelopeWithHeaders() throws {
        let stored = try S2StoredRecord(S2AppendRecord(headers: [header("k", "v")], body: bytes(#"{"data":"s","id":"x"}"#)))
        let record = readBack(stored, seq: 8)
        XCTAssertEqual(s2JSON(record), #"{"seq_num":8,"timestamp":0,"headers":[["k","v"]],"body":"{\"data\":\"s\",\"id\":\"x\"}"}"#)
        XCTAssertEqual(text(record.v2DrainJSON), #"{"data":"s","id":"x","seqNum":8,"headers":[["k","v"]]}"#)
    }

    func testRawBodyRecord() throws {
        let record = readBack(try S2StoredRecord(S2AppendRecord(body: bytes("plain text"))), seq: 3)
        XCTAssertEqual(record.s2Body, bytes("plain text"))
        XCTAssertEqual(text(record.data), #""plain text""#, "the documented format shows it as a string")
        XCTAssertEqual(s2JSON(record), #"{"seq_num":3,"timestamp":0,"body":"plain text"}"#)
        // No envelope: the body itself is the data, as a string, with no writer's id.
        XCTAssertEqual(text(record.v2DrainJSON), #"{"data":"plain text","id":"","seqNum":3}"#)
    }

    func testControlRecord() {
        let record = StoredRecord(seq: 7, headers: bytes(#"[["trigger-control","turn-complete"]]"#), time: 3)
        XCTAssertNil(record.s2Body)
        XCTAssertEqual(s2JSON(record), #"{"seq_num":7,"timestamp":3,"headers":[["trigger-control","turn-complete"]]}"#)
        XCTAssertEqual(text(record.v2DrainJSON), #"{"data":"","id":"","seqNum":7,"headers":[["trigger-control","turn-complete"]]}"#)
    }

    func testCommandRecord() throws {
        let record = readBack(try S2StoredRecord(S2AppendRecord(headers: [header("", "fence")], body: bytes("tok"))), seq: 11)
        XCTAssertTrue(record.isCommand)
        XCTAssertEqual(record.s2Body, bytes("tok"))
        XCTAssertEqual(s2JSON(record), #"{"seq_num":11,"timestamp":0,"headers":[["","fence"]],"body":"tok"}"#)
        XCTAssertNil(record.v2DrainJSON, "a v2 drain leaves command records out")
    }

    func testLossMarker() {
        let record = StoredRecord(seq: 20, lostAfter: 14, time: 5)
        XCTAssertNil(record.s2Body)
        XCTAssertEqual(text(record.s2HeadersJSON), #"[["","lost"],["after","14"]]"#)
        XCTAssertEqual(s2JSON(record), #"{"seq_num":20,"timestamp":5,"headers":[["","lost"],["after","14"]]}"#)
        XCTAssertNil(record.v2DrainJSON, "a v2 drain leaves loss markers out")
    }

    func testEmptyS2RecordHasNoBodyInS2JSON() throws {
        let record = readBack(try S2StoredRecord(S2AppendRecord()), seq: 1)
        XCTAssertEqual(record.s2Body, [])
        XCTAssertEqual(s2JSON(record), #"{"seq_num":1,"timestamp":0}"#)
    }
}
