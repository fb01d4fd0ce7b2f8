// LiveRecordTests: the decoding of what the storage scripts publish (no I/O).
import XCTest
@testable import RelayRedis
@testable import RelayStorage

final class LiveRecordTests: XCTestCase {
    func decode(_ text: String) -> LiveRecord? { LiveRecord(payload: Array(text.utf8)) }
    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    func testEntriesWithTheirStoredFields() {
        XCTAssertEqual(decode("7 E\nd7:{\"a\":1}t13:1733000000000"),
                       .entry(StoredRecord(seq: 7, data: bytes("{\"a\":1}"), time: 1_733_000_000_000)))
        XCTAssertEqual(decode("8 E\nh11:[[\"k\",\"v\"]]t1:5"),
                       .entry(StoredRecord(seq: 8, headers: bytes("[[\"k\",\"v\"]]"), time: 5)))
        // An S2 record: a raw body (with a colon and digits in it) and its data derived from it.
        XCTAssertEqual(decode("9 E\nb5:a:1:bt1:1"),
                       .entry(StoredRecord(seq: 9, data: bytes("\"a:1:b\""), time: 1, body: bytes("a:1:b"))))
        var enveloped = StoredRecord(seq: 10, data: bytes("1"), time: 2, envelopeId: bytes("abc"))
        enveloped.partId = bytes("xy")
        XCTAssertEqual(decode("10 E\nd1:1i3:abcp2:xyt1:2"), .entry(enveloped))
        XCTAssertEqual(decode("1733000000000001 E\nl2:12"), .entry(StoredRecord(seq: 1_733_000_000_000_001, lostAfter: 12)))
        XCTAssertEqual(decode("10 x\n"), .closed(lastSeq: 10))
    }

    func testMessagesOfTheEarlierVersion() {
        XCTAssertEqual(decode("7 D\n{\"a\":1}"), .entry(StoredRecord(seq: 7, data: bytes("{\"a\":1}"))))
        XCTAssertEqual(decode("8 C\n[[\"k\",\"v\"]]"), .entry(StoredRecord(seq: 8, headers: bytes("[[\"k\",\"v\"]]"))))
        XCTAssertEqual(decode("9 d\n{\"data\": {\"a\": 1},\"id\":9}"), .entry(StoredRecord(seq: 9, data: bytes("{\"a\":1}"))))
        XCTAssertEqual(decode("9 c\n{\"data\":null,\"id\":9,\"headers\":[[\"k\",\"v\"]]}"),
                       .entry(StoredRecord(seq: 9, headers: bytes("[[\"k\",\"v\"]]"))))
        XCTAssertEqual(decode("1733000000000001 L\n12"), .entry(StoredRecord(seq: 1_733_000_000_000_001, lostAfter: 12)))
    }

    func testPrevious() {
        XCTAssertEqual(decode("7 D\n1")?.previous, 6)
        XCTAssertEqual(decode("100 L\n12")?.previous, 12, "a loss marker follows the last seq kept")
        XCTAssertEqual(decode("100 E\nl2:12")?.previous, 12)
        XCTAssertEqual(decode("100 L\n12")?.seq, 100)
    }

    func testMalformedPayloadsAreIgnored() {
        for text in ["", "7", "7 D", "7 D1", "x D\n1", "-1 D\n1", "7 Z\n1", "100 L\n", "100 L\nabc", "100 L\n100", "100 L\n200", "0 D\n1",
                     "7 E\nd", "7 E\nd5:abc", "7 E\nd:abc", "7 E\ndx:abc", "7 E\nd99999999999999999999:a", "100 E\nl3:100", "7 E\nd-1:a", "9 d\nnot json", "9 d\n[1]"] {
            XCTAssertNil(decode(text), text)
        }
        XCTAssertEqual(decode("7 E\n"), .entry(StoredRecord(seq: 7)), "no fields: an entry with nothing to show")
    }
}
