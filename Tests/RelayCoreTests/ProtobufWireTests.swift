// ProtobufWireTests: the protobuf reader and writer (ProtobufWire.swift), no I/O.
import XCTest
@testable import RelayCore

final class ProtobufWireTests: XCTestCase {
    private func readVarint(_ bytes: [UInt8]) throws -> UInt64 {
        var reader = ProtobufReader(bytes[...])
        let value = try reader.varint()
        XCTAssertTrue(reader.isAtEnd, "the varint did not consume all of \(bytes)")
        return value
    }

    private func writeVarint(_ value: UInt64) -> [UInt8] {
        var w = ProtobufWriter()
        w.varint(value)
        return w.bytes
    }

    private func reason(_ body: () throws -> Void) -> String? {
        do { try body() } catch let e as ProtobufError { return e.reason } catch { return "unexpected \(error)" }
        return nil
    }

    // MARK: Varints

    func testVarintEdgeValues() throws {
        let cases: [(UInt64, [UInt8])] = [
            (0, [0x00]),
            (1, [0x01]),
            (127, [0x7F]),
            (128, [0x80, 0x01]),
            (300, [0xAC, 0x02]),
            (16_383, [0xFF, 0x7F]),
            (16_384, [0x80, 0x80, 0x01]),
            (UInt64(UInt32.max), [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
            (1 << 63, [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
            (UInt64.max, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
        ]
        for (value, encoded) in cases {
            XCTAssertEqual(writeVarint(value), encoded, "writing \(value)")
            XCTAssertEqual(try readVarint(encoded), value, "reading \(encoded)")
        }
    }

    func testVarintRoundTripsAcrossEveryBitLength() throws {
        for bits in 0..<64 {
            for value in [UInt64(1) << bits, (UInt64(1) << bits) - 1, (UInt64(1) << bits) | 0x55] {
                let encoded = writeVarint(value)
                XCTAssertEqual(encoded.count, max(1, (64 - value.leadingZeroBitCount + 6) / 7), "length of \(value)")
                XCTAssertEqual(try readVarint(encoded), value)
            }
        }
    }

    func testNonCanonicalVarintsStillRead() throws {
        // Padding with continuation bytes is allowed by protobuf (decoders must accept it).
        XCTAssertEqual(try readVarint([0x81, 0x80, 0x80, 0x00]), 1)
        XCTAssertEqual(try readVarint([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), 0)
    }

    func testVarintOverflowIsRejected() {
        // 11 bytes: ten with the continuation bit, then a last one.
        let eleven: [UInt8] = Array(repeating: 0xFF, count: 10) + [0x01]
        XCTAssertNotNil(reason { _ = try readVarint(eleven) })
        let elevenZeros: [UInt8] = Array(repeating: 0x80, count: 10) + [0x00]
        XCTAssertNotNil(reason { _ = try readVarint(elevenZeros) }, "a varint longer than 10 bytes")
        // 10 bytes whose last one carries more than the 64th bit.
        let tooBig: [UInt8] = Array(repeating: 0xFF, count: 9) + [0x02]
        XCTAssertEqual(reason { _ = try readVarint(tooBig) }, "varint overflows 64 bits")
        let tooBig2: [UInt8] = Array(repeating: 0x80, count: 9) + [0x7F]
        XCTAssertEqual(reason { _ = try readVarint(tooBig2) }, "varint overflows 64 bits")
    }

    func testTruncatedVarintIsRejected() {
        XCTAssertEqual(reason { _ = try readVarint([]) }, "truncated varint")
        XCTAssertEqual(reason { _ = try readVarint([0x80]) }, "truncated varint")
        XCTAssertEqual(reason { _ = try readVarint([0xFF, 0xFF, 0xFF]) }, "truncated varint")
    }

    func testReaderWorksOnASliceWithANonZeroStart() throws {
        let buffer: [UInt8] = [0xEE, 0xEE, 0x08, 0x96, 0x01, 0xEE]
        var reader = ProtobufReader(buffer[2..<5])
        let field = try XCTUnwrap(try reader.nextField())
        XCTAssertEqual(field.number, 1)
        XCTAssertEqual(field.type, .varint)
        XCTAssertEqual(try reader.varint(), 150)
        XCTAssertNil(try reader.nextField())
    }

    // MARK: Fields

    func testFieldKeys() throws {
        var w = ProtobufWriter()
        w.key(1, .varint)
        w.key(2, .lengthDelimited)
        w.key(15, .fixed32)
        w.key(16, .fixed64)
        w.key(536_870_911, .varint)
        XCTAssertEqual(w.bytes, [0x08, 0x12, 0x7D, 0x81, 0x01, 0xF8, 0xFF, 0xFF, 0xFF, 0x0F])
        var reader = ProtobufReader(w.bytes[...])
        for (number, type) in [(UInt32(1), ProtobufReader.WireType.varint), (2, .lengthDelimited), (15, .fixed32),
                               (16, .fixed64), (536_870_911, .varint)] {
            let field = try XCTUnwrap(try reader.nextField())
            XCTAssertEqual(field.number, number)
            XCTAssertEqual(field.type, type)
        }
        XCTAssertNil(try reader.nextField())
    }

    func testBadKeysAreRejected() {
        // Field number 0.
        XCTAssertEqual(reason { var r = ProtobufReader([0x00, 0x01][...]); _ = try r.nextField() }, "bad field number")
        // Field number 2^29 (one past the largest).
        XCTAssertEqual(reason { var r = ProtobufReader([0x80, 0x80, 0x80, 0x80, 0x10][...]); _ = try r.nextField() },
                       "bad field number")
        // Groups (3, 4) and the undefined wire types 6 and 7.
        for type: UInt8 in [3, 4, 6, 7] {
            XCTAssertEqual(reason { var r = ProtobufReader([0x08 | type][...]); _ = try r.nextField() },
                           "unsupported wire type \(type)")
        }
    }

    func testLengthPastTheEndIsRejected() throws {
        XCTAssertEqual(reason { var r = ProtobufReader([0x05, 0x01, 0x02][...]); _ = try r.lengthDelimited() },
                       "length past the end of the message")
        // A huge length (2^64-1) does not wrap around.
        XCTAssertEqual(reason {
            var r = ProtobufReader(([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01] + [0x00])[...])
            _ = try r.lengthDelimited()
        }, "length past the end of the message")
        // Exactly to the end is fine.
        var r = ProtobufReader([0x02, 0x61, 0x62][...])
        XCTAssertEqual(Array(try r.lengthDelimited()), [0x61, 0x62])
        XCTAssertTrue(r.isAtEnd)
        // A length past the end of a nested slice, though not of the buffer it is a slice of.
        let buffer: [UInt8] = [0x03, 0x61, 0x62, 0x63]
        XCTAssertNotNil(reason { var n = ProtobufReader(buffer[0..<3]); _ = try n.lengthDelimited() })
    }

    func testSkipEveryWireType() throws {
        let input: [UInt8] = [0x08, 0xAC, 0x02,                        // 1: varint 300
                              0x11, 1, 2, 3, 4, 5, 6, 7, 8,            // 2: fixed64
                              0x1A, 0x03, 9, 9, 9,                     // 3: length-delimited
                              0x25, 1, 2, 3, 4,                        // 4: fixed32
                              0x28, 0x07]                              // 5: varint 7
        var reader = ProtobufReader(input[...])
        var skipped: [UInt32] = []
        for _ in 0..<4 {
            let field = try XCTUnwrap(try reader.nextField())
            skipped.append(field.number)
            try reader.skip(field.type)
        }
        XCTAssertEqual(skipped, [1, 2, 3, 4])
        let last = try XCTUnwrap(try reader.nextField())
        XCTAssertEqual(last.number, 5)
        XCTAssertEqual(try reader.varint(), 7)
        XCTAssertNil(try reader.nextField())
    }

    func testTruncatedFixedWidthIsRejected() {
        XCTAssertEqual(reason { var r = ProtobufReader([1, 2, 3, 4, 5, 6, 7][...]); try r.skip(.fixed64) },
                       "truncated fixed-width field")
        XCTAssertEqual(reason { var r = ProtobufReader([1, 2, 3][...]); try r.skip(.fixed32) },
                       "truncated fixed-width field")
        XCTAssertNil(reason { var r = ProtobufReader([1, 2, 3, 4][...]); try r.skip(.fixed32) })
    }

    func testExpect() {
        var r = ProtobufReader([][...])
        XCTAssertNil(reason { try r.expect(.varint, got: .varint, "x") })
        XCTAssertEqual(reason { try r.expect(.varint, got: .lengthDelimited, "match_seq_num") },
                       "match_seq_num has the wrong wire type")
    }

    func testWriterFieldsAndNestedMessages() {
        var w = ProtobufWriter()
        w.uint64(1, 0)
        w.bytesField(2, Array("hi".utf8))
        w.bytesField(3, [UInt8]())
        w.message(4) { m in
            m.uint64(1, 150)
            m.message(2) { _ in }
        }
        XCTAssertEqual(w.bytes, [0x08, 0x00,
                                 0x12, 0x02, 0x68, 0x69,
                                 0x1A, 0x00,
                                 0x22, 0x05, 0x08, 0x96, 0x01, 0x12, 0x00])
    }

    func testLongBytesFieldHasAMultiByteLength() throws {
        let payload = [UInt8](repeating: 0xAB, count: 200)
        var w = ProtobufWriter()
        w.bytesField(7, payload)
        XCTAssertEqual(Array(w.bytes.prefix(3)), [0x3A, 0xC8, 0x01])
        var r = ProtobufReader(w.bytes[...])
        let field = try XCTUnwrap(try r.nextField())
        XCTAssertEqual(field.number, 7)
        XCTAssertEqual(Array(try r.lengthDelimited()), payload)
        XCTAssertTrue(r.isAtEnd)
    }
}
